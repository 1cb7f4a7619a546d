//! Top-k similarity search over dense `f32` vectors.
//!
//! For each query vector, the `min(k, n)` rows of an `n × dim` matrix with the highest dot product, as
//! `(row index, score)`, best first, ties by lower index. The rows of [`crate::embed`] are unit vectors
//! (or zero), so there the dot product *is* the cosine similarity; for other inputs, normalise the rows
//! first if cosines are wanted. Scores are compared in IEEE total order (`f32::total_cmp`, after turning
//! `-0.0` into `0.0`), so the result is deterministic even with NaNs in the input.
//!
//! Vectors arrive as little-endian `f32` bytes, row-major; [`floats`] reads them in place when they are
//! aligned (on little-endian machines) and copies them otherwise.
//!
//! The dot product is written so that the compiler vectorises it: 16 independent accumulators (a fixed
//! array, one lane each), reduced once at the end in a fixed tree. On `x86_64` the same body is compiled a
//! second time with AVX2 and FMA enabled and chosen at run time when the CPU has both; FMA rounds once per
//! multiply-add, so its scores can differ from the portable path's in the last bits. A row's score never
//! depends on where the row sits in the matrix. The top-k of each query is a bounded binary heap whose
//! root is the worst hit kept; most rows lose against it with one comparison. Matrices of at least
//! [`PARALLEL_MIN_VALUES`] values are split into row blocks searched on all cores (rayon), each block
//! keeping its own top-k, merged at the end: with numpy's BLAS on two threads, one Rust thread lost at
//! 10k and 100k rows of 384 (benchmarks/RESULTS.md).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;

use rayon::prelude::*;

/// One result: a row of the matrix and its score against the query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub index: usize,
    pub score: f32,
}

/// Heap order: the greatest element is the *worst* hit (lowest score, then highest index), so that a
/// max-heap keeps it at the root and `into_sorted_vec` lists the best first.
#[derive(Clone, Copy)]
struct Ranked(Hit);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .score
            .total_cmp(&self.0.score)
            .then(self.0.index.cmp(&other.0.index))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

/// The best `k` hits seen so far.
struct TopK {
    k: usize,
    heap: BinaryHeap<Ranked>,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline]
    fn push(&mut self, hit: Hit) {
        if self.heap.len() < self.k {
            self.heap.push(Ranked(hit));
            return;
        }
        let Some(mut worst) = self.heap.peek_mut() else {
            return;
        };
        // Cheap rejection first: strictly lower scores never enter.
        if hit.score < worst.0.score {
            return;
        }
        if Ranked(hit) < *worst {
            *worst = Ranked(hit);
        }
    }

    fn merge(&mut self, other: Self) {
        for Ranked(hit) in other.heap {
            self.push(hit);
        }
    }

    fn into_sorted(self) -> Vec<Hit> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.0)
            .collect()
    }
}

/// Why a search could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeError {
    /// `dim` was 0.
    Dim,
    /// `k` was 0.
    K,
    /// A byte string is not a whole number of `dim`-vectors of 4-byte floats.
    Length {
        name: &'static str,
        len: usize,
        dim: usize,
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dim => f.write_str("dim must be at least 1"),
            Self::K => f.write_str("k must be at least 1"),
            Self::Length { name, len, dim } => write!(
                f,
                "{name} has {len} bytes, not a multiple of 4 * dim = {}",
                4 * (*dim as u128)
            ),
        }
    }
}

impl std::error::Error for ShapeError {}

/// Little-endian `f32`s from bytes whose length is a multiple of 4: borrowed in place when aligned on a
/// little-endian machine, copied otherwise.
///
/// # Panics
/// When the length is not a multiple of 4.
#[must_use]
pub fn floats(bytes: &[u8]) -> Cow<'_, [f32]> {
    assert!(bytes.len() % 4 == 0, "not a whole number of f32");
    #[cfg(target_endian = "little")]
    if let Ok(values) = bytemuck::try_cast_slice::<u8, f32>(bytes) {
        return Cow::Borrowed(values);
    }
    Cow::Owned(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

/// Independent accumulators: one per lane, summed in a fixed tree at the end, so a row's score depends
/// only on its values and the query. 16 lanes are two AVX registers or four SSE ones; the compiler's loop
/// vectoriser turns the inner loop into packed multiply-adds. (Register-blocking 2 or 4 rows per pass was
/// tried and was no faster: above a few hundred rows the scan is bound by memory bandwidth.)
const LANES: usize = 16;

#[inline(always)]
#[allow(clippy::inline_always)]
fn madd<const FMA: bool>(a: f32, b: f32, acc: f32) -> f32 {
    if FMA {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

/// The dot product body shared by the portable and the AVX2+FMA variants (inlined into each, so each
/// is compiled with its own target features). The last partial chunk, if any, is zero-padded to a full
/// one and added lane by lane like the others: with a separate scalar tail instead, the compiler chose
/// 4-lane vectors even with AVX2 enabled (half the speed).
#[inline(always)]
#[allow(clippy::inline_always)]
fn dot_body<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let split = a.len() / LANES * LANES;
    for (x, y) in a[..split]
        .chunks_exact(LANES)
        .zip(b[..split].chunks_exact(LANES))
    {
        for i in 0..LANES {
            acc[i] = madd::<FMA>(x[i], y[i], acc[i]);
        }
    }
    if split < a.len() {
        let (mut x, mut y) = ([0.0f32; LANES], [0.0f32; LANES]);
        x[..a.len() - split].copy_from_slice(&a[split..]);
        y[..b.len() - split].copy_from_slice(&b[split..]);
        for i in 0..LANES {
            acc[i] = madd::<FMA>(x[i], y[i], acc[i]);
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

/// Scores the rows of `block` (whose first row is row `first` of the matrix) against every query.
#[inline(always)]
#[allow(clippy::inline_always)]
fn scan_body<const FMA: bool>(
    queries: &[f32],
    block: &[f32],
    first: usize,
    dim: usize,
    tops: &mut [TopK],
) {
    for (r, row) in block.chunks_exact(dim).enumerate() {
        for (query, top) in queries.chunks_exact(dim).zip(tops.iter_mut()) {
            top.push(Hit {
                index: first + r,
                score: dot_body::<FMA>(query, row) + 0.0,
            });
        }
    }
}

fn scan_portable(queries: &[f32], block: &[f32], first: usize, dim: usize, tops: &mut [TopK]) {
    scan_body::<false>(queries, block, first, dim, tops);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scan_avx2(queries: &[f32], block: &[f32], first: usize, dim: usize, tops: &mut [TopK]) {
    scan_body::<true>(queries, block, first, dim, tops);
}

/// Which dot-product variant runs. Only [`Kernel::detect`] can hand out the AVX2+FMA one, so a safe
/// caller can never run it on a CPU without those features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel(Variant);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Kernel {
    /// The variant without CPU-specific instructions (SSE2 on `x86_64`).
    pub const PORTABLE: Self = Self(Variant::Portable);

    /// The fastest variant this CPU supports.
    #[must_use]
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Self(Variant::Avx2Fma);
        }
        Self::PORTABLE
    }

    fn scan(self, queries: &[f32], block: &[f32], first: usize, dim: usize, tops: &mut [TopK]) {
        match self.0 {
            Variant::Portable => scan_portable(queries, block, first, dim, tops),
            // SAFETY: `Avx2Fma` is only made by `detect`, when the CPU has AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Variant::Avx2Fma => unsafe { scan_avx2(queries, block, first, dim, tops) },
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_body::<true>(a, b)
}

/// The dot product of two equally long vectors with the given kernel.
///
/// # Panics
/// When the lengths differ.
#[must_use]
pub fn dot(kernel: Kernel, a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vectors of different lengths");
    match kernel.0 {
        Variant::Portable => dot_body::<false>(a, b),
        // SAFETY: `Avx2Fma` is only made by `detect`, when the CPU has AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Variant::Avx2Fma => unsafe { dot_avx2(a, b) },
    }
}

/// Below this many matrix values (rows × dim) a search runs on the calling thread: splitting it costs
/// more than it saves. See benchmarks/RESULTS.md.
pub const PARALLEL_MIN_VALUES: usize = 1 << 20;

/// Rows per parallel block, as a number of values (about 1 MiB of floats).
const BLOCK_VALUES: usize = 1 << 18;

/// The top `min(k, n)` rows of `matrix` for each query (see the module documentation).
///
/// # Errors
/// When `dim` or `k` is 0, or a length is not a multiple of `dim`.
pub fn topk(
    kernel: Kernel,
    queries: &[f32],
    matrix: &[f32],
    dim: usize,
    k: usize,
) -> Result<Vec<Vec<Hit>>, ShapeError> {
    check(dim, k, queries.len() * 4, matrix.len() * 4)?;
    let q = queries.len() / dim;
    let n = matrix.len() / dim;
    let k = k.min(n);
    if k == 0 {
        return Ok(vec![Vec::new(); q]);
    }
    let fresh = || (0..q).map(|_| TopK::new(k)).collect::<Vec<_>>();
    let tops = if matrix.len() < PARALLEL_MIN_VALUES || rayon::current_num_threads() < 2 {
        let mut tops = fresh();
        kernel.scan(queries, matrix, 0, dim, &mut tops);
        tops
    } else {
        let rows_per_block = (BLOCK_VALUES / dim).max(1);
        matrix
            .par_chunks(rows_per_block * dim)
            .enumerate()
            .fold(fresh, |mut tops, (b, block)| {
                kernel.scan(queries, block, b * rows_per_block, dim, &mut tops);
                tops
            })
            .reduce(fresh, |mut left, right| {
                for (l, r) in left.iter_mut().zip(right) {
                    l.merge(r);
                }
                left
            })
    };
    Ok(tops.into_iter().map(TopK::into_sorted).collect())
}

fn check(dim: usize, k: usize, queries_len: usize, matrix_len: usize) -> Result<(), ShapeError> {
    if dim == 0 {
        return Err(ShapeError::Dim);
    }
    if k == 0 {
        return Err(ShapeError::K);
    }
    let row_bytes = dim.checked_mul(4).ok_or(ShapeError::Length {
        name: "queries",
        len: queries_len,
        dim,
    })?;
    for (name, len) in [("queries", queries_len), ("matrix", matrix_len)] {
        if len % row_bytes != 0 {
            return Err(ShapeError::Length { name, len, dim });
        }
    }
    Ok(())
}

/// [`topk`] on little-endian `f32` bytes, with the shape checked on the byte lengths.
///
/// # Errors
/// When `dim` or `k` is 0, or a byte length is not a multiple of `4 * dim`.
pub fn topk_bytes(
    queries: &[u8],
    matrix: &[u8],
    dim: usize,
    k: usize,
) -> Result<Vec<Vec<Hit>>, ShapeError> {
    check(dim, k, queries.len(), matrix.len())?;
    topk(Kernel::detect(), &floats(queries), &floats(matrix), dim, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn kernels() -> Vec<Kernel> {
        let mut all = vec![Kernel::PORTABLE];
        if Kernel::detect() != Kernel::PORTABLE {
            all.push(Kernel::detect());
        }
        all
    }

    /// A deterministic pseudo-random vector (xorshift), values in -1..1.
    fn noise(seed: u64, len: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                #[allow(clippy::cast_precision_loss)]
                let unit = (s >> 40) as f32 / (1u64 << 24) as f32;
                unit * 2.0 - 1.0
            })
            .collect()
    }

    fn brute_force(queries: &[f32], matrix: &[f32], dim: usize, k: usize) -> Vec<Vec<Hit>> {
        queries
            .chunks_exact(dim)
            .map(|q| {
                let mut hits: Vec<Hit> = matrix
                    .chunks_exact(dim)
                    .enumerate()
                    .map(|(index, row)| Hit {
                        index,
                        #[allow(clippy::cast_possible_truncation)]
                        score: q
                            .iter()
                            .zip(row)
                            .map(|(a, b)| f64::from(*a) * f64::from(*b))
                            .sum::<f64>() as f32,
                    })
                    .collect();
                hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
                hits.truncate(k);
                hits
            })
            .collect()
    }

    #[test]
    fn dot_products() {
        for kernel in kernels() {
            for len in [1, 3, 31, 32, 33, 64, 100, 384] {
                let a = noise(1, len);
                let b = noise(2, len);
                let expected: f64 = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| f64::from(*x) * f64::from(*y))
                    .sum();
                let got = f64::from(dot(kernel, &a, &b));
                assert!((got - expected).abs() < 1e-4, "{kernel:?} {len}");
            }
        }
    }

    #[test]
    fn finds_the_best_rows_in_order() {
        let dim = 3;
        let matrix = [
            1.0, 0.0, 0.0, // 0
            0.0, 1.0, 0.0, // 1
            0.6, 0.8, 0.0, // 2
            1.0, 0.0, 0.0, // 3, ties with 0
            -1.0, 0.0, 0.0, // 4
        ];
        let queries = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        for kernel in kernels() {
            let got = topk(kernel, &queries, &matrix, dim, 3).unwrap();
            let hit = |index, score| Hit { index, score };
            assert_eq!(
                got[0],
                vec![hit(0, 1.0), hit(3, 1.0), hit(2, 0.6)],
                "{kernel:?}"
            );
            // All scores 0 against the second query: the lowest indices win.
            assert_eq!(got[1], vec![hit(0, 0.0), hit(1, 0.0), hit(2, 0.0)]);
            // k larger than n: every row, sorted.
            let all = topk(kernel, &queries[..3], &matrix, dim, 99).unwrap();
            assert_eq!(all[0].len(), 5);
            assert_eq!(all[0][4], hit(4, -1.0));
        }
    }

    #[test]
    fn agrees_with_brute_force_serial_and_parallel() {
        let dim = 48;
        let n = PARALLEL_MIN_VALUES / dim + 1000; // takes the parallel path
        let matrix = noise(7, n * dim);
        let queries = noise(8, 3 * dim);
        let expected = brute_force(&queries, &matrix, dim, 10);
        for kernel in kernels() {
            for rows in [1, 17, 1000, n] {
                let part = &matrix[..rows * dim];
                let got = topk(kernel, &queries, part, dim, 10).unwrap();
                let want = brute_force(&queries, part, dim, 10);
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(g.len(), w.len());
                    for (a, b) in g.iter().zip(w) {
                        assert!((a.score - b.score).abs() < 1e-4);
                    }
                    // Without near-ties in random data the indices agree exactly.
                    let gi: Vec<usize> = g.iter().map(|h| h.index).collect();
                    let wi: Vec<usize> = w.iter().map(|h| h.index).collect();
                    assert_eq!(gi, wi, "{kernel:?} {rows}");
                }
            }
            let got = topk(kernel, &queries, &matrix, dim, 10).unwrap();
            assert_eq!(
                got.iter()
                    .map(|g| g.iter().map(|h| h.index).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
                expected
                    .iter()
                    .map(|g| g.iter().map(|h| h.index).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn ties_across_parallel_blocks_keep_the_lowest_indices() {
        let dim = 16;
        let n = PARALLEL_MIN_VALUES / dim * 2;
        let matrix = vec![0.25f32; n * dim];
        let query = vec![1.0f32; dim];
        let got = topk(Kernel::detect(), &query, &matrix, dim, 5).unwrap();
        let indices: Vec<usize> = got[0].iter().map(|h| h.index).collect();
        assert_eq!(indices, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn bytes_in_and_shapes() {
        let matrix = bytes(&[1.0, 0.0, 0.0, 1.0]);
        let query = bytes(&[0.0, 1.0]);
        let got = topk_bytes(&query, &matrix, 2, 1).unwrap();
        assert_eq!(
            got,
            vec![vec![Hit {
                index: 1,
                score: 1.0
            }]]
        );
        assert_eq!(topk_bytes(&query, &[], 2, 5).unwrap(), vec![Vec::new()]);
        assert_eq!(
            topk_bytes(&[], &matrix, 2, 5).unwrap(),
            Vec::<Vec<Hit>>::new()
        );
        assert_eq!(topk_bytes(&query, &matrix, 0, 1), Err(ShapeError::Dim));
        assert_eq!(topk_bytes(&query, &matrix, 2, 0), Err(ShapeError::K));
        assert_eq!(
            topk_bytes(&query, &matrix[..12], 2, 1),
            Err(ShapeError::Length {
                name: "matrix",
                len: 12,
                dim: 2
            })
        );
        assert_eq!(
            topk_bytes(&query[..7], &matrix, 2, 1)
                .unwrap_err()
                .to_string(),
            "queries has 7 bytes, not a multiple of 4 * dim = 8"
        );
        let huge = topk_bytes(&query, &matrix, usize::MAX, 1).unwrap_err();
        let four_max = 4 * u128::try_from(usize::MAX).unwrap();
        assert!(huge.to_string().ends_with(&four_max.to_string()));
    }

    #[test]
    fn floats_reads_unaligned_bytes_too() {
        let raw = bytes(&[1.5, -2.0, 3.25]);
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&raw);
        assert_eq!(floats(&raw).as_ref(), &[1.5, -2.0, 3.25]);
        assert_eq!(floats(&shifted[1..]).as_ref(), &[1.5, -2.0, 3.25]);
    }
}
