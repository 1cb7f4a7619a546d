//! Normalisation of alert titles, so that two firings of the same alert compare equal although their
//! numbers, hashes and ids differ.
//!
//! The rule, applied to each text on its own (the Python reference
//! `llm_incident_manager.pipeline.reference.normalize_texts_py` implements the same definition):
//!
//! 1. **Tokens.** A *token character* is a character that is alphanumeric (Unicode:
//!    [`char::is_alphanumeric`]) or `#`, or a `.` or `,` that has an ASCII digit immediately before
//!    and immediately after it (so `2.41`, `1,024` and `1.2.3` stay whole). Tokens are the maximal runs
//!    of token characters; every other character only separates tokens.
//! 2. **Ids.** A token becomes `#`, judged on the token as written (before any rule below), when
//!    a. it is a *hex id*: at least 8 characters, all ASCII hex digits `[0-9a-fA-F]`, at least one of
//!    them a digit and at least one a letter (`deadbeef12`, a git sha, a trace id, `7f9c4d8b6`); or
//!    b. it is a *generated name part*: at least 5 characters, all of them ASCII digits or lower-case
//!    consonants `bcdfghjklmnpqrstvwxz` (no vowel `aeiou`, no `y`). Kubernetes draws replica-set hashes
//!    and pod-name suffixes from those consonants and the digits 2 and 4–9; any digit is accepted here
//!    (`x2kqp`, `b1c2d`, `xkqpz`). `llama3`, `qwen2` and `gpt4o` have vowels and are kept. The rare
//!    all-consonant word of 5+ letters (`https`) and sizes like `8x22b` are ids too;
//!    c. it is one of five consecutive tokens of 8, 4, 4, 4 and 12 ASCII hex digits, each separated from
//!    the next by exactly one `-` (a UUID; each of its five parts becomes `#`).
//! 3. **Words.** Every other token is split into words before these positions `i` (`c` = its characters):
//!    a. `c[i]` is upper-case and `c[i-1]` is lower-case or an ASCII digit (`rateHigh`, `99High`);
//!    b. `c[i-1]` and `c[i]` are upper-case and `c[i+1]` is lower-case (`GPUNode` → `GPU`, `Node`);
//!    c. `c[i]` is an ASCII digit and `c[i-1]` is none of: ASCII digit, `.`, `,`, `#` (`Errors5xx` →
//!    `Errors`, `5xx`; `p95` → `p`, `95`).
//!
//!    Upper- and lower-case are Unicode's `Uppercase` and `Lowercase` properties
//!    ([`char::is_uppercase`], [`char::is_lowercase`]).
//! 4. **Case.** Each word is lower-cased character by character with Unicode's full lower-case mapping
//!    ([`char::to_lowercase`]; no context, so `Σ` always becomes `σ`).
//! 5. **Numbers.** In each word, every maximal run matching `[0-9]+([.,][0-9]+)*` becomes `#`.
//! 6. The words of all tokens are joined by one space, in order. Repeated `#` words are not merged. A text
//!    without tokens gives the empty string.
//!
//! So `HallucinationRateHigh` → `hallucination rate high`, `GPUNodeDown` → `gpu node down`,
//! `HTTPErrors5xx` → `http errors #xx`, `p95 latency 2.41s on llama3-70b` → `p # latency #s on llama # #b`
//! and `Pod vllm-7f9c4d8b6-x2kqp OOMKilled` → `pod vllm # # oom killed`.
//!
//! The Python reference uses `str.isalnum`, `str.isupper`, `str.islower` and `str.lower` instead of the
//! `char` methods. They agree on letters and numbers; they differ on combining marks and symbols that
//! Unicode calls alphabetic (`Ⓐ`, U+0345; alphanumeric here, not in Python) and on characters whose
//! properties changed after the Unicode version of the Python build (14.0 for Python 3.11).

/// Normalises every text (see the module documentation), in order.
#[must_use]
pub fn normalize_all<S: AsRef<str>>(texts: &[S]) -> Vec<String> {
    let mut spans = Vec::new();
    let mut chars = Vec::new();
    texts
        .iter()
        .map(|text| {
            let mut out = String::with_capacity(text.as_ref().len());
            normalize_into(text.as_ref(), &mut out, &mut spans, &mut chars);
            out
        })
        .collect()
}

/// Normalises one text (see the module documentation).
#[must_use]
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_into(text, &mut out, &mut Vec::new(), &mut Vec::new());
    out
}

/// A token: its byte range in the text and whether rule 2 makes it `#`.
#[derive(Clone, Copy)]
struct Token {
    start: usize,
    end: usize,
    id: bool,
}

fn normalize_into(text: &str, out: &mut String, tokens: &mut Vec<Token>, chars: &mut Vec<char>) {
    tokenize(text, tokens);
    mark_uuids(text, tokens);
    for token in tokens.iter() {
        let raw = &text[token.start..token.end];
        if token.id || is_hex_id(raw) || is_generated_name_part(raw) {
            push_word(out, "#");
            continue;
        }
        chars.clear();
        chars.extend(raw.chars());
        let mut word_start = 0;
        for i in 1..=chars.len() {
            if i == chars.len() || is_word_boundary(chars, i) {
                push_normalized_word(out, &chars[word_start..i]);
                word_start = i;
            }
        }
    }
}

fn is_token_char(prev: Option<char>, c: char, next: Option<char>) -> bool {
    c.is_alphanumeric()
        || c == '#'
        || ((c == '.' || c == ',')
            && prev.is_some_and(|p| p.is_ascii_digit())
            && next.is_some_and(|n| n.is_ascii_digit()))
}

/// Rule 1: the maximal runs of token characters, as byte ranges.
fn tokenize(text: &str, tokens: &mut Vec<Token>) {
    tokens.clear();
    let mut open: Option<usize> = None;
    let mut prev: Option<char> = None;
    let mut iter = text.char_indices().peekable();
    while let Some((at, c)) = iter.next() {
        let next = iter.peek().map(|&(_, n)| n);
        if is_token_char(prev, c, next) {
            open.get_or_insert(at);
        } else if let Some(start) = open.take() {
            tokens.push(Token {
                start,
                end: at,
                id: false,
            });
        }
        prev = Some(c);
    }
    if let Some(start) = open {
        tokens.push(Token {
            start,
            end: text.len(),
            id: false,
        });
    }
}

/// Rule 2c: five consecutive tokens of 8-4-4-4-12 hex digits joined by single `-`.
fn mark_uuids(text: &str, tokens: &mut [Token]) {
    const SHAPE: [usize; 5] = [8, 4, 4, 4, 12];
    let mut i = 0;
    while i + SHAPE.len() <= tokens.len() {
        let group = &tokens[i..i + SHAPE.len()];
        let shaped = group.iter().zip(SHAPE).enumerate().all(|(j, (t, len))| {
            let part = &text[t.start..t.end];
            part.len() == len
                && part.bytes().all(|b| b.is_ascii_hexdigit())
                && (j == 0 || &text[group[j - 1].end..t.start] == "-")
        });
        if shaped {
            for t in &mut tokens[i..i + SHAPE.len()] {
                t.id = true;
            }
            i += SHAPE.len();
        } else {
            i += 1;
        }
    }
}

/// Rule 2a.
fn is_hex_id(token: &str) -> bool {
    token.len() >= 8
        && token.bytes().all(|b| b.is_ascii_hexdigit())
        && token.bytes().any(|b| b.is_ascii_digit())
        && token.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Rule 2b.
fn is_generated_name_part(token: &str) -> bool {
    token.len() >= 5
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || b"bcdfghjklmnpqrstvwxz".contains(&b))
}

/// Rule 3: whether a word starts at `chars[i]` (`0 < i < chars.len()`).
fn is_word_boundary(chars: &[char], i: usize) -> bool {
    let (prev, c) = (chars[i - 1], chars[i]);
    if c.is_uppercase() {
        return prev.is_lowercase()
            || prev.is_ascii_digit()
            || (prev.is_uppercase() && chars.get(i + 1).is_some_and(|n| n.is_lowercase()));
    }
    c.is_ascii_digit() && !(prev.is_ascii_digit() || matches!(prev, '.' | ',' | '#'))
}

fn push_word(out: &mut String, word: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(word);
}

/// Rules 4 and 5 on one word, appended to `out` after a space.
fn push_normalized_word(out: &mut String, word: &[char]) {
    if !out.is_empty() {
        out.push(' ');
    }
    let mut i = 0;
    while i < word.len() {
        let c = word[i];
        if c.is_ascii_digit() {
            // [0-9]+([.,][0-9]+)*
            i += 1;
            while i < word.len()
                && (word[i].is_ascii_digit()
                    || (matches!(word[i], '.' | ',')
                        && word.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            out.push('#');
        } else {
            out.extend(c.to_lowercase());
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_words() {
        assert_eq!(
            normalize("HallucinationRateHigh"),
            "hallucination rate high"
        );
        assert_eq!(normalize("GPUNodeDown"), "gpu node down");
        assert_eq!(normalize("HTTPErrors5xx"), "http errors #xx");
        assert_eq!(normalize("ModelLatencyP99High"), "model latency p # high");
        assert_eq!(normalize("OOMKilled"), "oom killed");
        assert_eq!(normalize("already lower"), "already lower");
    }

    #[test]
    fn numbers_become_hash() {
        assert_eq!(
            normalize("p95 latency 2.41s on llama3-70b"),
            "p # latency #s on llama # #b"
        );
        assert_eq!(
            normalize("p95 latency 2.41s on llama3-70b"),
            normalize("p95 latency 3.07s on llama3-70b")
        );
        assert_eq!(normalize("1,024 tokens, 1.2.3"), "# tokens #");
        assert_eq!(normalize("a 1. b ,2 3..4"), "a # b # # #");
        assert_eq!(normalize("#42 and 7"), "## and #");
    }

    #[test]
    fn pod_names_and_ids() {
        let a = normalize("Pod vllm-7f9c4d8b6-x2kqp OOMKilled");
        assert_eq!(a, "pod vllm # # oom killed");
        assert_eq!(a, normalize("Pod vllm-5d6e7f8a9-b1c2d OOMKilled"));
        assert_eq!(a, normalize("Pod vllm-7f9c4d8b6-xkqpz OOMKilled"));
        assert_eq!(normalize("trace deadbeef12 DEADBEEF12"), "trace # #");
        // Letters only, or too short, or with a vowel: not ids.
        assert_eq!(
            normalize("deadbeef beef12 llama3 qwen2"),
            "deadbeef beef # llama # qwen #"
        );
        assert_eq!(normalize("https vllm"), "# vllm");
        assert_eq!(normalize("mixtral-8x22b 8x7b"), "mixtral # #x #b");
    }

    #[test]
    fn uuids() {
        assert_eq!(
            normalize("req 123e4567-e89b-12d3-a456-426614174000 failed"),
            "req # # # # # failed"
        );
        assert_eq!(
            normalize("id deadbeef-beef-beef-beef-deadbeefbeef"),
            "id # # # # #"
        );
        // Not uuid-shaped: a 4-character hex part stays a word.
        assert_eq!(normalize("beef-a1b2 x"), "beef a #b # x");
        assert_eq!(
            normalize("deadbeef-beef-beef-beef_beefbeefbeef"),
            "deadbeef beef beef beef beefbeefbeef"
        );
    }

    #[test]
    fn unicode() {
        assert_eq!(normalize("ÜberFehler Straße"), "über fehler straße");
        assert_eq!(normalize("ΣΊΣΥΦΟΣ"), "σίσυφοσ");
        assert_eq!(normalize("İ"), "i\u{307}");
        assert_eq!(normalize("日本語のエラー 3件"), "日本語のエラー #件");
        assert_eq!(normalize("a\u{00a0}b\tc"), "a b c");
    }

    #[test]
    fn empty_and_separators_only() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" -_/ "), "");
        assert_eq!(normalize_all::<&str>(&[]), Vec::<String>::new());
        assert_eq!(normalize_all(&["A1", "", "bB"]), vec!["a #", "", "b b"]);
    }
}
