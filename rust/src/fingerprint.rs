//! Alert fingerprints.
//!
//! * Label fingerprints are bit-for-bit those of Prometheus/Alertmanager
//!   (`model.LabelSet.Fingerprint` in prometheus/common): FNV-1a 64 over the label names sorted
//!   ascending, each name followed by the separator byte `0xff`, then its value followed by `0xff`.
//!   Alertmanager prints them as 16 lower-case hex digits; so do we.
//! * Explicit dedup keys (`PagerDuty` `dedup_key`, `CloudEvents` `source`+`id`, generic `dedup_key`)
//!   are hashed with SHA-256 over `scope 0x00 key`, printed as 64 hex digits, so the same key sent
//!   by two different sources never collides.

use sha2::{Digest, Sha256};

const FNV_OFFSET64: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME64: u64 = 1_099_511_628_211;
const SEPARATOR: u8 = 0xff;

#[inline]
fn fnv_add(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME64);
    }
    h
}

#[inline]
fn fnv_add_byte(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(FNV_PRIME64)
}

/// Alertmanager's fingerprint of a label set. `labels` may come in any order; duplicate names are
/// the caller's concern (a label set is a map, so it has none).
#[must_use]
pub fn label_fingerprint<S: AsRef<str>>(labels: &mut [(S, S)]) -> u64 {
    labels.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    let mut h = FNV_OFFSET64;
    for (name, value) in labels.iter() {
        h = fnv_add(h, name.as_ref().as_bytes());
        h = fnv_add_byte(h, SEPARATOR);
        h = fnv_add(h, value.as_ref().as_bytes());
        h = fnv_add_byte(h, SEPARATOR);
    }
    h
}

/// The fingerprint as Alertmanager prints it (`%016x`).
#[must_use]
pub fn format_label_fingerprint(fp: u64) -> String {
    format!("{fp:016x}")
}

/// SHA-256 of an explicit dedup key within its scope, as 64 lower-case hex digits.
#[must_use]
pub fn key_fingerprint(scope: &str, key: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0u8]);
    hasher.update(key.as_bytes());
    hex::encode(hasher.finalize())
}

/// One item of a batch: either a label set or an explicit (scope, key).
pub enum Identity {
    Labels(Vec<(String, String)>),
    Key { scope: String, key: String },
}

/// Fingerprints a whole batch, in order.
#[must_use]
pub fn fingerprint_batch(items: Vec<Identity>) -> Vec<String> {
    items
        .into_iter()
        .map(|item| match item {
            Identity::Labels(mut labels) => {
                format_label_fingerprint(label_fingerprint(&mut labels))
            }
            Identity::Key { scope, key } => key_fingerprint(&scope, &key),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from prometheus/common model/signature_test.go (TestLabelsToSignature and
    // TestMetricToFingerprint), which Alertmanager's label fingerprint is.
    #[test]
    fn empty_label_set_is_the_fnv_offset() {
        let mut labels: Vec<(&str, &str)> = vec![];
        assert_eq!(label_fingerprint(&mut labels), 14_695_981_039_346_656_037);
    }

    #[test]
    fn prometheus_common_vector() {
        let mut labels = vec![("name", "garland, briggs"), ("fear", "love is not enough")];
        assert_eq!(label_fingerprint(&mut labels), 5_799_056_148_416_392_346);
    }

    #[test]
    fn order_does_not_matter() {
        let mut a = vec![("b", "2"), ("a", "1"), ("c", "3")];
        let mut b = vec![("c", "3"), ("a", "1"), ("b", "2")];
        assert_eq!(label_fingerprint(&mut a), label_fingerprint(&mut b));
    }

    #[test]
    fn separator_prevents_concatenation_collisions() {
        let mut a = vec![("ab", "c")];
        let mut b = vec![("a", "bc")];
        assert_ne!(label_fingerprint(&mut a), label_fingerprint(&mut b));
    }

    #[test]
    fn formats_as_sixteen_hex_digits() {
        assert_eq!(format_label_fingerprint(0xab), "00000000000000ab");
        assert_eq!(
            format_label_fingerprint(5_799_056_148_416_392_346),
            "507a62d79ee76c9a"
        );
    }

    #[test]
    fn key_fingerprint_is_scoped_sha256() {
        // sha256(b"pd:1\x00abc")
        let fp = key_fingerprint("pd:1", "abc");
        assert_eq!(fp.len(), 64);
        assert_ne!(fp, key_fingerprint("pd:2", "abc"));
        assert_ne!(key_fingerprint("a", "bc"), key_fingerprint("ab", "c"));
        // sha256 of "\x00" alone, a fixed vector.
        assert_eq!(
            key_fingerprint("", ""),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn batch_keeps_order_and_kind() {
        let out = fingerprint_batch(vec![
            Identity::Labels(vec![]),
            Identity::Key {
                scope: String::new(),
                key: String::new(),
            },
        ]);
        assert_eq!(out[0], "cbf29ce484222325");
        assert_eq!(out[1].len(), 64);
    }
}
