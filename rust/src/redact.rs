//! Credential redaction: what every notification renders passes through here.
//!
//! * [`is_secret_key`]: a label, annotation or data key that names a secret (`api_key`, `X-Session`, ...); such
//!   keys are dropped with their values wherever they would be rendered.
//! * [`scrub`]: a text with whatever looks like a credential replaced by `[redacted]`: known token shapes
//!   (Slack, OpenAI/Anthropic, Stripe, AWS, GitHub, GitLab, Google, Hugging Face, `SendGrid`, JWTs, PEM private
//!   keys), `Bearer <token>`, `Authorization: <anything>`, `password=...`-style assignments, `?token=...` in URLs
//!   and `user:password@` in URLs. Six passes, in that order, each over the previous one's output.
//! * [`redact_json`]: a JSON document with secret-named keys removed at every depth and every string scrubbed;
//!   numbers keep their digits (an exponent gains its sign: `1e5` becomes `1e+5`) and keys their order
//!   (`serde_json` with `arbitrary_precision` and `preserve_order`), and a value nested deeper than
//!   [`MAX_DEPTH`] becomes `null`.
//!
//! The patterns are those the service ran in Python before, kept in `pipeline/reference.py`
//! (`tests/unit/test_redact.py` checks on generated texts and JSON trees that both give the same result). The token alternation needs look-behind
//! (`(?<![A-Za-z0-9])sk-...`), which the `regex` crate does not have, so it runs on `fancy-regex`, and only for
//! texts that a `regex`-crate superset of it (the same alternation without the look-behinds) matches at all:
//! most texts match none and cost one DFA scan.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

/// What replaces a credential.
pub const REDACTED: &str = "[redacted]";

/// Values nested deeper than this become `null` (the document itself is at depth 0).
pub const MAX_DEPTH: usize = 32;

static SECRET_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(secret|token|passw|api[_-]?key|authorization|credential|private[_-]?key|cookie|session)")
        .expect("static pattern")
});

/// The known token shapes, one alternative each; `LOOK` marks where the Python pattern has
/// `(?<![A-Za-z0-9])`.
const TOKENS: &[&str] = &[
    r"xox[abeoprs]-[A-Za-z0-9-]+", // Slack bot/user/app tokens
    r"xapp-[A-Za-z0-9-]+",         // Slack app-level tokens
    r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+", // Slack webhook URLs
    r"LOOKsk-[A-Za-z0-9_-]{8,}",   // OpenAI, Anthropic (sk-ant-...) keys
    r"LOOK[rsp]k_(?:live|test)_[A-Za-z0-9]{8,}", // Stripe
    r"whsec_[A-Za-z0-9+/=_-]+",    // Standard Webhooks secrets
    r"LOOK(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{12,}", // AWS key ids
    r"LOOKgh[pousr]_[A-Za-z0-9]{20,}", // GitHub
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"glpat-[A-Za-z0-9_-]{20,}",                                // GitLab
    r"AIza[0-9A-Za-z_-]{30,}",                                  // Google API keys
    r"LOOKhf_[A-Za-z0-9]{30,}",                                 // Hugging Face
    r"LOOKSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",          // SendGrid
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", // JWTs
    // Python's `$` (no MULTILINE) also matches before a final newline: `(?=\n?\z)` here.
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|ENDOFTEXT)",
];

fn tokens(look: &str, end: &str) -> String {
    TOKENS
        .iter()
        .map(|t| t.replace("LOOK", look).replace("ENDOFTEXT", end))
        .collect::<Vec<_>>()
        .join("|")
}

static CREDENTIALS: LazyLock<fancy_regex::Regex> = LazyLock::new(|| {
    fancy_regex::Regex::new(&tokens("(?<![A-Za-z0-9])", r"(?=\n?\z)")).expect("static pattern")
});
/// A superset of [`CREDENTIALS`] (no look-around): a text it does not match has no token to mask.
static CREDENTIALS_ANY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&tokens("", r"\n?\z")).expect("static pattern"));

const BEARER_RE: &str = r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}";
const AUTHORIZATION_RE: &str = r#"(?i)\b(authorization\s*[:=]\s*)[^\n"',;]+"#;
const ASSIGNMENT_RE: &str = concat!(
    r#"(?i)\b((?:password|passwd|pwd|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|"#,
    r#"auth[_-]?token|access[_-]?token|refresh[_-]?token|private[_-]?key)["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&,;]+)"#,
);
const QUERY_TOKEN_RE: &str =
    r"(?i)([?&](?:token|sig|signature|key|auth|access_token|code)=)[^&#\s]+";
/// `(?<=://)user:password@` in Python; here the `://` is matched and put back (a match cannot contain `/`, so
/// matches never overlap a preceding one's `://`, and the two find the same spans).
const USERINFO_RE: &str = r"(://)[^/\s:@]+:[^/\s@]+@";

static BEARER: LazyLock<Regex> = LazyLock::new(|| Regex::new(BEARER_RE).expect("static pattern"));
static AUTHORIZATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(AUTHORIZATION_RE).expect("static pattern"));
static ASSIGNMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(ASSIGNMENT_RE).expect("static pattern"));
static QUERY_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(QUERY_TOKEN_RE).expect("static pattern"));
static USERINFO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(USERINFO_RE).expect("static pattern"));

/// Every pass's pattern in one (the tokens without their look-behinds). A pass changes a text only where it
/// matches, so a text this does not match is left as it is by all six: one scan for the common case, a text
/// without a credential.
static ANY: LazyLock<Regex> = LazyLock::new(|| {
    let all = [
        tokens("", r"\n?\z"),
        BEARER_RE.to_owned(),
        AUTHORIZATION_RE.to_owned(),
        ASSIGNMENT_RE.to_owned(),
        QUERY_TOKEN_RE.to_owned(),
        USERINFO_RE.to_owned(),
    ];
    Regex::new(&all.map(|p| format!("(?:{p})")).join("|")).expect("static pattern")
});

/// Whether a label, annotation or data key names a secret.
#[must_use]
pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEY.is_match(key)
}

fn group_then(caps: &Captures<'_>, tail: &str) -> String {
    let mut out = String::with_capacity(caps[1].len() + tail.len());
    out.push_str(&caps[1]);
    out.push_str(tail);
    out
}

fn replace<'a>(text: Cow<'a, str>, re: &Regex, tail: &str) -> Cow<'a, str> {
    // one scan: `replace_all` borrows when nothing matches
    let replaced = match re.replace_all(&text, |c: &Captures<'_>| group_then(c, tail)) {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    };
    replaced.map_or(text, Cow::Owned)
}

/// `text` with whatever looks like a credential replaced by `[redacted]` (the module's doc lists what).
#[must_use]
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    if text.is_empty() || !ANY.is_match(text) {
        return out;
    }
    if CREDENTIALS_ANY.is_match(&out) {
        // fancy-regex fails only when its backtracking limit is hit; then mask the whole text rather than
        // let a credential through
        let replaced = CREDENTIALS
            .try_replacen(&out, 0, fancy_regex::NoExpand(REDACTED))
            .map_or_else(|_| REDACTED.to_owned(), Cow::into_owned);
        out = Cow::Owned(replaced);
    }
    let bearer = format!(" {REDACTED}");
    out = replace(out, &BEARER, &bearer);
    out = replace(out, &AUTHORIZATION, REDACTED);
    out = replace(out, &ASSIGNMENT, REDACTED);
    out = replace(out, &QUERY_TOKEN, REDACTED);
    let userinfo = format!("{REDACTED}@");
    replace(out, &USERINFO, &userinfo)
}

fn redact_value(value: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        *value = Value::Null;
        return;
    }
    match value {
        Value::String(s) => {
            if let Cow::Owned(clean) = scrub(s) {
                *s = clean;
            }
        }
        Value::Array(items) => {
            for item in items {
                redact_value(item, depth + 1);
            }
        }
        Value::Object(map) => {
            map.retain(|key, _| !is_secret_key(key));
            for item in map.values_mut() {
                redact_value(item, depth + 1);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A JSON document with secret-named keys removed and every string scrubbed (the module's doc says how).
///
/// # Errors
/// When `json` is not one valid JSON document.
pub fn redact_json(json: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let mut value: Value = serde_json::from_slice(json)?;
    redact_value(&mut value, 0);
    serde_json::to_vec(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_token_shapes_and_keeps_text() {
        assert_eq!(scrub("key sk-abcdefgh1234 failed"), "key [redacted] failed");
        assert_eq!(scrub("Xsk-abcdefgh1234"), "Xsk-abcdefgh1234");
        assert_eq!(scrub("tokens=4096 used"), "tokens=4096 used");
        assert_eq!(scrub("Bearer abc.def.ghi123"), "Bearer [redacted]");
        assert_eq!(
            scrub("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: [redacted]"
        );
        assert_eq!(
            scrub("https://user:hunter2@db.example/x?token=abc&x=1"),
            "https://[redacted]@db.example/x?token=[redacted]&x=1"
        );
        assert_eq!(
            scrub("password=hunter2, user=bob"),
            "password=[redacted], user=bob"
        );
        assert_eq!(
            scrub("-----BEGIN RSA PRIVATE KEY-----\nabc\n"),
            "[redacted]\n"
        );
        assert!(matches!(scrub("plain text"), Cow::Borrowed(_)));
    }

    #[test]
    fn secret_keys() {
        assert!(is_secret_key("X-Api-Key"));
        assert!(is_secret_key("SESSION_id"));
        assert!(!is_secret_key("idempotency_key"));
        assert!(!is_secret_key("alertname"));
    }

    #[test]
    fn json_drops_secret_keys_scrubs_strings_and_keeps_numbers_and_order() {
        let out = redact_json(
            br#"{"z":1.50,"api_key":"x","a":["Bearer abcdefgh",{"password":"p"}],"n":123456789012345678901234}"#,
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"z":1.50,"a":["Bearer [redacted]",{}],"n":123456789012345678901234}"#
        );
    }

    #[test]
    fn json_depth_limit() {
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        let out = String::from_utf8(redact_json(deep.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            out,
            format!(
                "{}null{}",
                "[".repeat(MAX_DEPTH + 1),
                "]".repeat(MAX_DEPTH + 1)
            )
        );
        assert!(redact_json(b"{").is_err());
    }
}
