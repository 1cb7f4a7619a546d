//! Fuzzy similarity of two strings: the normalised Indel similarity, which is what Python's
//! `rapidfuzz.fuzz.ratio(a, b) / 100` returns.
//!
//! `ratio = 1 - (len(a) + len(b) - 2 * LCS(a, b)) / (len(a) + len(b))`, over Unicode code points, with
//! `ratio("", "") = 1` (Python's rapidfuzz gives 100.0 there). The work is done by the `rapidfuzz` crate
//! (the Rust port by rapidfuzz's author, bit-parallel LCS): [`fuzz::ratio`] for one pair, and for one
//! query against many choices its Indel `BatchComparator`, which builds the query's bit vectors once.
//! The strings are compared as given: normalise them first (see [`crate::text`]) when numbers and ids
//! should not count.
//!
//! Not `fuzz::RatioBatchComparator`: in rapidfuzz 0.5.0 it returns the LCS similarity normalised by the
//! longer length (`LCS / max(len)`: 0.667 for `"ab"`, `"abc"`, where `ratio` gives 0.8), not the Indel
//! one. `indel::BatchComparator::normalized_similarity` is what `fuzz::ratio` computes; the test
//! `crate_ratio_batch_comparator_is_still_wrong` tells when the crate is fixed.
//!
//! When both strings are ASCII, they are compared byte by byte, which is the same sequence of code
//! points without the UTF-8 decoding.

use std::collections::BTreeSet;

use rapidfuzz::distance::indel::BatchComparator;
use rapidfuzz::fuzz;

/// The normalised Indel similarity of `a` and `b`, in `0.0..=1.0`.
#[must_use]
pub fn ratio(a: &str, b: &str) -> f64 {
    if a.is_ascii() && b.is_ascii() {
        fuzz::ratio(a.bytes(), b.bytes())
    } else {
        fuzz::ratio(a.chars(), b.chars())
    }
}

/// One query, prepared for comparison with many choices.
pub struct Scorer {
    ascii: Option<BatchComparator<u8>>,
    chars: BatchComparator<char>,
}

impl Scorer {
    #[must_use]
    pub fn new(query: &str) -> Self {
        Self {
            ascii: query
                .is_ascii()
                .then(|| BatchComparator::new(query.bytes())),
            chars: BatchComparator::new(query.chars()),
        }
    }

    /// [`ratio`] of the query and `choice`.
    #[must_use]
    pub fn ratio(&self, choice: &str) -> f64 {
        match &self.ascii {
            Some(ascii) if choice.is_ascii() => ascii.normalized_similarity(choice.bytes()),
            _ => self.chars.normalized_similarity(choice.chars()),
        }
    }
}

/// [`ratio`] of `query` and each of `choices`, in order, on the calling thread. (Splitting the choices
/// over rayon's threads was tried: on the 2-core machine of benchmarks/RESULTS.md it made 1,000 choices
/// slower, and 10,000 only 10–25% faster.)
#[must_use]
pub fn scores<S: AsRef<str>>(query: &str, choices: &[S]) -> Vec<f64> {
    let scorer = Scorer::new(query);
    choices
        .iter()
        .map(|choice| scorer.ratio(choice.as_ref()))
        .collect()
}

/// Fuzzy similarity of two word lists that tolerates extra words on one side: rapidfuzz's token-set ratio,
/// over words split at ASCII whitespace, with one guard.
///
/// * the same set of words: 1.0 (0.0 when both are empty);
/// * fewer than two shared words: the [`ratio`] of each side's distinct words sorted and joined by a space
///   (one common word such as "latency" must not make two titles equal);
/// * else, with `common` the shared words sorted and joined, and `with_a`, `with_b` that followed by each
///   side's own words sorted: 1.0 when one side has no words of its own, else the best [`ratio`] of
///   (`common`, `with_a`), (`common`, `with_b`) and (`with_a`, `with_b`).
///
/// Words sort by code point (byte order of UTF-8), as Python's `sorted` does.
#[must_use]
pub fn token_set_ratio(a: &str, b: &str) -> f64 {
    let ta: BTreeSet<&str> = a.split_ascii_whitespace().collect();
    let tb: BTreeSet<&str> = b.split_ascii_whitespace().collect();
    if ta == tb {
        return if ta.is_empty() { 0.0 } else { 1.0 };
    }
    let shared: Vec<&str> = ta.intersection(&tb).copied().collect();
    if shared.len() < 2 {
        let join = |set: &BTreeSet<&str>| set.iter().copied().collect::<Vec<_>>().join(" ");
        return ratio(&join(&ta), &join(&tb));
    }
    let only_a: Vec<&str> = ta.difference(&tb).copied().collect();
    let only_b: Vec<&str> = tb.difference(&ta).copied().collect();
    if only_a.is_empty() || only_b.is_empty() {
        return 1.0;
    }
    let common = shared.join(" ");
    let with_a = format!("{common} {}", only_a.join(" "));
    let with_b = format!("{common} {}", only_b.join(" "));
    ratio(&common, &with_a)
        .max(ratio(&common, &with_b))
        .max(ratio(&with_a, &with_b))
}

/// [`token_set_ratio`] of `query` and each of `choices`, in order.
#[must_use]
pub fn token_set_scores<S: AsRef<str>>(query: &str, choices: &[S]) -> Vec<f64> {
    choices
        .iter()
        .map(|choice| token_set_ratio(query, choice.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// The plain LCS definition, to check the crate against.
    fn by_definition(a: &str, b: &str) -> f64 {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        if a.is_empty() && b.is_empty() {
            return 1.0;
        }
        let mut row = vec![0usize; b.len() + 1];
        for x in &a {
            let mut diagonal = 0;
            for (j, y) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = if x == y {
                    diagonal + 1
                } else {
                    above.max(row[j])
                };
                diagonal = above;
            }
        }
        let total = a.len() + b.len();
        #[allow(clippy::cast_precision_loss)]
        let distance = (total - 2 * row[b.len()]) as f64 / total as f64;
        1.0 - distance
    }

    #[test]
    fn token_set_examples() {
        // an extra word on one side: the same problem
        assert!(close(
            token_set_ratio("hallucination rate", "hallucination rate threshold"),
            1.0
        ));
        assert!(close(
            token_set_ratio("rate hallucination", "hallucination rate"),
            1.0
        ));
        // one shared word is not enough
        assert!(token_set_ratio("toxic output rate", "hallucination rate") < 0.6);
        assert!(close(token_set_ratio("", ""), 0.0));
        assert!(close(token_set_ratio("a", "a"), 1.0));
        // both sides with words of their own: the best of the three ratios
        let expected = ratio("gpu memory", "gpu memory pressure")
            .max(ratio("gpu memory", "gpu memory used"))
            .max(ratio("gpu memory pressure", "gpu memory used"));
        assert!(close(
            token_set_ratio("gpu memory pressure", "memory gpu used"),
            expected
        ));
        assert_eq!(
            token_set_scores("a b", &["a b c", "x"]),
            vec![token_set_ratio("a b", "a b c"), token_set_ratio("a b", "x")]
        );
    }

    #[test]
    fn known_values() {
        // rapidfuzz's documentation: fuzz.ratio("this is a test", "this is a test!") = 96.55...
        assert!(close(
            ratio("this is a test", "this is a test!"),
            28.0 / 29.0
        ));
        assert!(close(ratio("", ""), 1.0));
        assert!(close(ratio("abc", ""), 0.0));
        assert!(close(ratio("abc", "abc"), 1.0));
        assert!(close(ratio("abc", "xyz"), 0.0));
        assert!(close(ratio("kitten", "sitting"), 1.0 - 5.0 / 13.0));
    }

    #[test]
    fn agrees_with_the_definition() {
        let texts = [
            "",
            "a",
            "gpu memory high on node #",
            "gpu memory high on node # in region #",
            "model latency p # high",
            "hallucination rate high",
            "über fehler straße",
            "uber fehler strasse",
            "日本語のエラー",
            "日本のエラー #件",
        ];
        for a in texts {
            let scorer = Scorer::new(a);
            for b in texts {
                let expected = by_definition(a, b);
                assert!(close(ratio(a, b), expected), "{a:?} {b:?}");
                assert!(close(scorer.ratio(b), expected), "{a:?} {b:?}");
            }
            assert_eq!(
                scores(a, &texts),
                texts.iter().map(|b| scorer.ratio(b)).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn long_strings_use_more_than_one_word() {
        let a = "gpu memory high ".repeat(20);
        let b = "gpu memory low ".repeat(20);
        assert!(close(ratio(&a, &b), by_definition(&a, &b)));
        assert!(close(Scorer::new(&a).ratio(&b), by_definition(&a, &b)));
    }

    #[test]
    fn crate_ratio_batch_comparator_is_still_wrong() {
        // When this fails, rapidfuzz fixed fuzz::RatioBatchComparator and Scorer may use it again.
        let batch = fuzz::RatioBatchComparator::new("ab".chars());
        assert!(close(batch.similarity("abc".chars()), 2.0 / 3.0));
        assert!(close(ratio("ab", "abc"), 0.8));
        assert!(close(Scorer::new("ab").ratio("abc"), 0.8));
    }
}
