//! Text embeddings without a model: feature hashing into `dim` buckets.
//!
//! The words of a text are its pieces between ASCII whitespace (space, `\t`, `\n`, `\x0c`, `\r`; the
//! caller passes normalised text, see [`crate::text`]). The features of a text, with their weights:
//!
//! * each word (`w`, weight 1.0), tag `b'w'`;
//! * each pair of consecutive words (`w1 + " " + w2`, weight 1.0), tag `b'b'`;
//! * each character trigram of each word padded with one space on both sides (`" ab"`, `"abc"`,
//!   `"bc "`; a one-character word gives the single trigram `" a "`), weight 0.5, tag `b'c'`.
//!
//! A feature's hash is the 64-bit FNV-1a of its tag byte followed by its UTF-8 bytes. It adds
//! `sign * weight` to bucket `hash % dim`, where `sign` is `+1` when bit 63 of the hash is 0 and `-1`
//! otherwise. The vector is then scaled to unit L2 norm (the sum of squares and the division in `f64`,
//! the result rounded to `f32`); a text without words gives the zero vector. Nothing depends on the
//! platform or the run: the same text always gives the same bits.

/// The smallest and largest `dim` accepted.
pub const MIN_DIM: usize = 8;
pub const MAX_DIM: usize = 4096;

const FNV_OFFSET64: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME64: u64 = 1_099_511_628_211;

const WORD: u8 = b'w';
const BIGRAM: u8 = b'b';
const TRIGRAM: u8 = b'c';

#[inline]
fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME64))
}

#[inline]
fn feature_hash(tag: u8, parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .fold(fnv(FNV_OFFSET64, &[tag]), |h, p| fnv(h, p))
}

#[inline]
fn add(out: &mut [f32], hash: u64, weight: f32) {
    // `hash % dim` < dim <= MAX_DIM, so the cast is lossless.
    #[allow(clippy::cast_possible_truncation)]
    let bucket = (hash % out.len() as u64) as usize;
    out[bucket] += if hash >> 63 == 0 { weight } else { -weight };
}

/// Reusable buffers for [`Embedder::embed_into`].
#[derive(Default)]
pub struct Embedder {
    padded: Vec<u8>,
    starts: Vec<usize>,
}

impl Embedder {
    /// Writes the embedding of `text` into `out` (whose length is the dimension; zeroed here).
    ///
    /// # Panics
    /// When `out` is empty.
    pub fn embed_into(&mut self, text: &str, out: &mut [f32]) {
        assert!(!out.is_empty(), "the dimension must be positive");
        out.fill(0.0);
        let mut previous: Option<&str> = None;
        for word in text.split_ascii_whitespace() {
            add(out, feature_hash(WORD, &[word.as_bytes()]), 1.0);
            if let Some(previous) = previous {
                let bigram = feature_hash(BIGRAM, &[previous.as_bytes(), b" ", word.as_bytes()]);
                add(out, bigram, 1.0);
            }
            previous = Some(word);
            self.trigrams(word, out);
        }
        let norm = out
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            for x in out.iter_mut() {
                // Rounding a unit vector's components to f32 is the point.
                #[allow(clippy::cast_possible_truncation)]
                let scaled = (f64::from(*x) / norm) as f32;
                *x = scaled;
            }
        }
    }

    fn trigrams(&mut self, word: &str, out: &mut [f32]) {
        self.padded.clear();
        self.padded.push(b' ');
        self.padded.extend_from_slice(word.as_bytes());
        self.padded.push(b' ');
        self.starts.clear();
        self.starts.push(0);
        self.starts
            .extend(word.char_indices().map(|(at, _)| at + 1));
        self.starts.push(word.len() + 1);
        self.starts.push(word.len() + 2);
        // starts[j] is where character j of the padded word begins; the last entry is its end.
        for window in self.starts.windows(4) {
            let trigram = &self.padded[window[0]..window[3]];
            add(out, feature_hash(TRIGRAM, &[trigram]), 0.5);
        }
    }
}

/// The embeddings of `texts`, row-major: `texts.len() * dim` values.
///
/// # Panics
/// When `dim` is outside `MIN_DIM..=MAX_DIM` (the binding checks it first).
#[must_use]
pub fn embed_all<S: AsRef<str>>(texts: &[S], dim: usize) -> Vec<f32> {
    let mut out = vec![0.0; texts.len() * dim];
    embed_all_into(texts, dim, &mut out);
    out
}

/// [`embed_all`] into a buffer of `texts.len() * dim` values.
///
/// # Panics
/// When `dim` is outside `MIN_DIM..=MAX_DIM` or `out` has the wrong length.
pub fn embed_all_into<S: AsRef<str>>(texts: &[S], dim: usize, out: &mut [f32]) {
    assert!((MIN_DIM..=MAX_DIM).contains(&dim), "dim out of range");
    assert_eq!(out.len(), texts.len() * dim, "output length");
    let mut embedder = Embedder::default();
    for (text, row) in texts.iter().zip(out.chunks_exact_mut(dim)) {
        embedder.embed_into(text.as_ref(), row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embed(text: &str, dim: usize) -> Vec<f32> {
        embed_all(&[text], dim)
    }

    /// The unnormalised vector, built by the definition with explicit strings.
    fn by_definition(text: &str, dim: usize) -> Vec<f64> {
        let mut v = vec![0.0f64; dim];
        let mut put = |tag: u8, feature: &str, weight: f64| {
            let h = fnv(fnv(FNV_OFFSET64, &[tag]), feature.as_bytes());
            let bucket = usize::try_from(h % dim as u64).unwrap();
            v[bucket] += if h >> 63 == 0 { weight } else { -weight };
        };
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            put(b'w', w, 1.0);
            if i > 0 {
                put(b'b', &format!("{} {}", words[i - 1], w), 1.0);
            }
            let padded: Vec<char> = format!(" {w} ").chars().collect();
            for t in padded.windows(3) {
                put(b'c', &t.iter().collect::<String>(), 0.5);
            }
        }
        v
    }

    #[test]
    fn fnv1a_vectors() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv(FNV_OFFSET64, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(FNV_OFFSET64, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv(FNV_OFFSET64, b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(feature_hash(b'f', &[b"oo", b"bar"]), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn matches_the_definition() {
        for text in [
            "gpu memory high on node #",
            "a",
            "über fehler   straße\tx",
            "日本語 のエラー #件",
        ] {
            for dim in [8, 256, 4096] {
                let expected = by_definition(text, dim);
                let norm = expected.iter().map(|x| x * x).sum::<f64>().sqrt();
                let got = embed(text, dim);
                for (g, e) in got.iter().zip(&expected) {
                    #[allow(clippy::cast_possible_truncation)]
                    let e = (e / norm) as f32;
                    assert_eq!(g.to_bits(), e.to_bits(), "{text:?} {dim}");
                }
            }
        }
    }

    #[test]
    fn unit_norm_or_zero() {
        let v = embed("model latency p # high", 256);
        let norm: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        assert!((norm - 1.0).abs() < 1e-6);
        assert!(embed("", 64).iter().all(|&x| x == 0.0));
        assert!(embed(" \t\n", 64).iter().all(|&x| x == 0.0));
    }

    #[test]
    fn rows_are_independent_and_whitespace_insensitive() {
        let texts = ["gpu memory high", "", "gpu  memory\thigh"];
        let all = embed_all(&texts, 32);
        assert_eq!(all.len(), 96);
        assert_eq!(&all[..32], embed("gpu memory high", 32).as_slice());
        assert!(all[32..64].iter().all(|&x| x == 0.0));
        assert_eq!(&all[64..], &all[..32]);
    }

    #[test]
    fn similar_texts_are_close() {
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let a = embed("gpu memory high on node #", 256);
        let b = embed("gpu memory high on node # in region #", 256);
        let c = embed("token cost spike", 256);
        assert!(dot(&a, &b) > 0.6);
        assert!(dot(&a, &c) < 0.3);
    }
}
