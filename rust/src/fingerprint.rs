//! Alert fingerprints.
//!
//! * Label fingerprints are bit-for-bit those of Prometheus/Alertmanager
//!   (`model.LabelSet.Fingerprint` in prometheus/common): FNV-1a 64 over the label names sorted
//!   ascending, each name followed by the separator byte `0xff`, then its value followed by `0xff`.
//!   Alertmanager prints them as 16 lower-case hex digits; so do we. A label with an empty value is
//!   no label at all in Prometheus' model (Alertmanager drops it on ingest), so it is left out here.
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
/// the caller's concern (a label set is a map, so it has none); empty values are left out.
#[must_use]
pub fn label_fingerprint<S: AsRef<str>>(labels: &mut [(S, S)]) -> u64 {
    labels.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    let mut h = FNV_OFFSET64;
    for (name, value) in labels
        .iter()
        .filter(|(_, value)| !value.as_ref().is_empty())
    {
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

#[derive(Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

enum Entry {
    Labels { first: usize, count: usize },
    Key { scope: Span, key: Span },
}

/// A batch of alert identities laid out in one byte buffer, so that filling it from Python costs a few
/// allocations per batch rather than two owned strings per label; hashing it needs no Python at all.
#[derive(Default)]
pub struct Batch {
    bytes: Vec<u8>,
    pairs: Vec<(Span, Span)>,
    entries: Vec<Entry>,
    open: Option<usize>,
}

impl Batch {
    #[must_use]
    pub fn with_capacity(items: usize, bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            pairs: Vec::with_capacity(items * 8),
            entries: Vec::with_capacity(items),
            open: None,
        }
    }

    fn span(&mut self, text: &[u8]) -> Span {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(text);
        Span {
            start,
            len: text.len(),
        }
    }

    /// Starts a label set; add its labels with [`Batch::push_label`].
    pub fn begin_labels(&mut self) {
        self.open = Some(self.entries.len());
        self.entries.push(Entry::Labels {
            first: self.pairs.len(),
            count: 0,
        });
    }

    /// Adds one label to the label set begun last.
    ///
    /// # Panics
    /// When no label set was begun.
    pub fn push_label(&mut self, name: &[u8], value: &[u8]) {
        let index = self.open.expect("push_label needs begin_labels first");
        if value.is_empty() {
            return;
        }
        let pair = (self.span(name), self.span(value));
        self.pairs.push(pair);
        if let Entry::Labels { count, .. } = &mut self.entries[index] {
            *count += 1;
        }
    }

    /// Adds an explicit dedup key.
    pub fn push_key(&mut self, scope: &[u8], key: &[u8]) {
        self.open = None;
        let scope = self.span(scope);
        let key = self.span(key);
        self.entries.push(Entry::Key { scope, key });
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn text(&self, span: Span) -> &[u8] {
        &self.bytes[span.start..span.start + span.len]
    }

    /// The fingerprint of every entry, in order (16 hex digits for label sets, 64 for keys).
    #[must_use]
    pub fn fingerprints(mut self) -> Vec<String> {
        let mut pairs = std::mem::take(&mut self.pairs);
        let mut out = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            match *entry {
                Entry::Labels { first, count } => {
                    let set = &mut pairs[first..first + count];
                    set.sort_unstable_by(|a, b| self.text(a.0).cmp(self.text(b.0)));
                    let mut h = FNV_OFFSET64;
                    for &(name, value) in set.iter() {
                        h = fnv_add(h, self.text(name));
                        h = fnv_add_byte(h, SEPARATOR);
                        h = fnv_add(h, self.text(value));
                        h = fnv_add_byte(h, SEPARATOR);
                    }
                    out.push(format_label_fingerprint(h));
                }
                Entry::Key { scope, key } => {
                    let mut hasher = Sha256::new();
                    hasher.update(self.text(scope));
                    hasher.update([0u8]);
                    hasher.update(self.text(key));
                    out.push(hex::encode(hasher.finalize()));
                }
            }
        }
        out
    }
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
    fn empty_values_are_no_labels() {
        let mut with_empty = vec![("alertname", "x"), ("empty", "")];
        let mut without = vec![("alertname", "x")];
        assert_eq!(
            label_fingerprint(&mut with_empty),
            label_fingerprint(&mut without)
        );
        let mut batch = Batch::default();
        batch.begin_labels();
        batch.push_label(b"alertname", b"x");
        batch.push_label(b"empty", b"");
        assert_eq!(
            batch.fingerprints()[0],
            format_label_fingerprint(label_fingerprint(&mut without))
        );
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
        let mut batch = Batch::default();
        batch.begin_labels();
        batch.push_key(b"", b"");
        batch.begin_labels();
        batch.push_label(b"name", b"garland, briggs");
        batch.push_label(b"fear", b"love is not enough");
        assert_eq!(batch.len(), 3);
        let out = batch.fingerprints();
        assert_eq!(out[0], "cbf29ce484222325");
        assert_eq!(out[1], key_fingerprint("", ""));
        assert_eq!(out[2], "507a62d79ee76c9a");
    }

    #[test]
    fn batch_agrees_with_single_calls() {
        let sets: Vec<Vec<(&str, &str)>> = vec![
            vec![("b", "2"), ("a", "1")],
            vec![
                ("alertname", "GPUMemoryHigh"),
                ("node", "gpu-7"),
                ("z", ""),
                ("", "empty name"),
            ],
            vec![("ä", "ü"), ("a", "ä")],
        ];
        let mut batch = Batch::with_capacity(sets.len(), 64);
        for set in &sets {
            batch.begin_labels();
            for (name, value) in set {
                batch.push_label(name.as_bytes(), value.as_bytes());
            }
        }
        let out = batch.fingerprints();
        for (set, fp) in sets.into_iter().zip(out) {
            let mut set = set;
            assert_eq!(fp, format_label_fingerprint(label_fingerprint(&mut set)));
        }
    }
}
