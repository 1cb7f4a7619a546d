"""Pure-Python reference implementations of the Rust kernels.

Property tests check the Rust kernels against these (parity), and benchmarks run them side by side with the
Rust ones. The service never calls them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import sys
from array import array
from typing import Any

__all__ = [
    "clean_py",
    "cosine_topk_py",
    "embed_texts_py",
    "fingerprint_batch",
    "fuzzy_ratio_py",
    "fuzzy_scores_py",
    "is_secret_key_py",
    "key_fingerprint",
    "label_fingerprint",
    "normalize_texts_py",
    "redact_json_py",
    "scrub_py",
]

_OFFSET64 = 14695981039346656037
_PRIME64 = 1099511628211
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


def label_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's label fingerprint (FNV-1a 64, sorted names, 0xff separators) as 16 hex digits; a label
    with an empty value is no label (Prometheus' model), so it is left out."""
    h = _OFFSET64
    for name in sorted(labels):
        if not labels[name]:
            continue
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * _PRIME64) & _MASK64
            h = ((h ^ 0xFF) * _PRIME64) & _MASK64
    return f"{h:016x}"


def key_fingerprint(scope: str, key: str) -> str:
    return hashlib.sha256(scope.encode() + b"\x00" + key.encode()).hexdigest()


def fingerprint_batch(items: list[dict[str, str] | tuple[str, str]]) -> list[str]:
    return [label_fingerprint(item) if isinstance(item, dict) else key_fingerprint(item[0], item[1]) for item in items]


# --- text normalisation (rust/src/text.rs documents the rule; this is the same definition) ---------------------

_DIGITS = "0123456789"
_HEX = frozenset("0123456789abcdefABCDEF")
#: Generated name parts (rule 2b): any digit, and the lower-case consonants of Kubernetes' alphabet for
#: replica-set hashes and pod suffixes (no vowel, no y).
_GENERATED = frozenset("0123456789bcdfghjklmnpqrstvwxz")
_UUID_SHAPE = (8, 4, 4, 4, 12)
_NUMBER = re.compile(r"[0-9]+(?:[.,][0-9]+)*")


def _is_token_char(text: str, i: int) -> bool:
    c = text[i]
    if c.isalnum() or c == "#":
        return True
    return c in ".," and 0 < i < len(text) - 1 and text[i - 1] in _DIGITS and text[i + 1] in _DIGITS


def _tokens(text: str) -> list[tuple[int, int]]:
    """Rule 1: the maximal runs of token characters, as (start, end) indices."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i in range(len(text)):
        if _is_token_char(text, i):
            if start is None:
                start = i
        elif start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def _uuid_parts(text: str, spans: list[tuple[int, int]]) -> set[int]:
    """Rule 2c: the indices of tokens that are the five parts of a UUID."""
    found: set[int] = set()
    i = 0
    while i + 5 <= len(spans):
        group = spans[i : i + 5]
        shaped = all(
            end - start == length
            and all(c in _HEX for c in text[start:end])
            and (j == 0 or text[group[j - 1][1] : start] == "-")
            for j, ((start, end), length) in enumerate(zip(group, _UUID_SHAPE, strict=True))
        )
        if shaped:
            found.update(range(i, i + 5))
            i += 5
        else:
            i += 1
    return found


def _is_hex_id(token: str) -> bool:
    """Rule 2a."""
    return (
        len(token) >= 8
        and all(c in _HEX for c in token)
        and any(c in _DIGITS for c in token)
        and any(c not in _DIGITS for c in token)
    )


def _is_generated_name_part(token: str) -> bool:
    """Rule 2b."""
    return len(token) >= 5 and all(c in _GENERATED for c in token)


def _words(token: str) -> list[str]:
    """Rule 3: the token split at camelCase boundaries and before digits that follow a letter."""
    words: list[str] = []
    start = 0
    for i in range(1, len(token)):
        prev, c = token[i - 1], token[i]
        if c.isupper():
            boundary = (
                prev.islower() or prev in _DIGITS or (prev.isupper() and i + 1 < len(token) and token[i + 1].islower())
            )
        else:
            boundary = c in _DIGITS and not (prev in _DIGITS or prev in ".,#")
        if boundary:
            words.append(token[start:i])
            start = i
    words.append(token[start:])
    return words


def _normalize_text(text: str) -> str:
    spans = _tokens(text)
    uuid_parts = _uuid_parts(text, spans)
    out: list[str] = []
    for index, (start, end) in enumerate(spans):
        token = text[start:end]
        if index in uuid_parts or _is_hex_id(token) or _is_generated_name_part(token):
            out.append("#")
            continue
        for word in _words(token):
            lowered = "".join(c.lower() for c in word)  # per character: no final-sigma context
            out.append(_NUMBER.sub("#", lowered))
    return " ".join(out)


def normalize_texts_py(texts: list[str]) -> list[str]:
    """``_core.normalize_texts``: alert titles with numbers, ids and hashes replaced by ``#``, camelCase split,
    lower-cased, tokens joined by one space. The rule is written down in rust/src/text.rs."""
    return [_normalize_text(text) for text in texts]


# --- fuzzy ratio -----------------------------------------------------------------------------------------------


def fuzzy_ratio_py(a: str, b: str) -> float:
    """The normalised Indel similarity by a plain LCS dynamic programme over code points:
    ``1 - (len(a) + len(b) - 2 * LCS) / (len(a) + len(b))``, and 1.0 for two empty strings."""
    total = len(a) + len(b)
    if total == 0:
        return 1.0
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b):
            above = row[j + 1]
            row[j + 1] = diagonal + 1 if x == y else max(above, row[j])
            diagonal = above
    return 1.0 - (total - 2 * row[len(b)]) / total


def fuzzy_scores_py(query: str, choices: list[str]) -> list[float]:
    return [fuzzy_ratio_py(query, choice) for choice in choices]


def token_set_ratio_py(a: str, b: str) -> float:
    """rapidfuzz's token-set ratio over words split at ASCII whitespace, with the guard of rust/src/fuzzy.rs: the
    same words give 1.0 (0.0 when there are none); fewer than two shared words give the ratio of each side's
    sorted words; else 1.0 when one side has no words of its own, or the best ratio of the shared words and
    each side's words appended to them."""
    ta = {w for w in re.split("[ \t\n\x0c\r]+", a) if w}
    tb = {w for w in re.split("[ \t\n\x0c\r]+", b) if w}
    if ta == tb:
        return 1.0 if ta else 0.0
    shared = ta & tb
    if len(shared) < 2:
        return fuzzy_ratio_py(" ".join(sorted(ta)), " ".join(sorted(tb)))
    only_a, only_b = sorted(ta - tb), sorted(tb - ta)
    if not only_a or not only_b:
        return 1.0
    common = " ".join(sorted(shared))
    with_a, with_b = f"{common} {' '.join(only_a)}", f"{common} {' '.join(only_b)}"
    return max(fuzzy_ratio_py(common, with_a), fuzzy_ratio_py(common, with_b), fuzzy_ratio_py(with_a, with_b))


def token_set_scores_py(query: str, choices: list[str]) -> list[float]:
    return [token_set_ratio_py(query, choice) for choice in choices]


# --- embeddings ------------------------------------------------------------------------------------------------

_ASCII_WHITESPACE = re.compile("[ \t\n\x0c\r]+")


def _fnv1a64(data: bytes) -> int:
    h = _OFFSET64
    for byte in data:
        h = ((h ^ byte) * _PRIME64) & _MASK64
    return h


def _embed_one(text: str, dim: int) -> list[float]:
    vector = [0.0] * dim

    def add(tag: bytes, feature: str, weight: float) -> None:
        h = _fnv1a64(tag + feature.encode())
        vector[h % dim] += weight if h >> 63 == 0 else -weight

    words = [w for w in _ASCII_WHITESPACE.split(text) if w]
    for i, word in enumerate(words):
        add(b"w", word, 1.0)
        if i > 0:
            add(b"b", words[i - 1] + " " + word, 1.0)
        padded = f" {word} "
        for j in range(len(padded) - 2):
            add(b"c", padded[j : j + 3], 0.5)
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector


def embed_texts_py(texts: list[str], dim: int = 256) -> bytes:
    """``_core.embed_texts``: feature hashing of words (1.0), word bigrams (1.0) and the character trigrams of
    each space-padded word (0.5) into ``dim`` buckets (FNV-1a 64 of a tag byte and the feature's UTF-8,
    bucket ``h % dim``, sign from bit 63), L2-normalised; ``len(texts) * dim`` little-endian f32."""
    if not 8 <= dim <= 4096:
        raise ValueError(f"dim must be in 8..=4096, got {dim}")
    values = array("f")
    for text in texts:
        values.extend(_embed_one(text, dim))
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


# --- top-k by dot product --------------------------------------------------------------------------------------


def cosine_topk_py(queries: bytes, matrix: bytes, dim: int, k: int) -> list[list[tuple[int, float]]]:
    """``_core.cosine_topk``: for each query, the top ``min(k, n)`` rows by dot product (a cosine for the unit
    rows of ``embed_texts``), as ``(row, score)``, best first, ties by lower row; scores summed in float64."""
    if dim < 1:
        raise ValueError("dim must be at least 1")
    if k < 1:
        raise ValueError("k must be at least 1")
    for name, data in (("queries", queries), ("matrix", matrix)):
        if len(data) % (4 * dim):
            raise ValueError(f"{name} has {len(data)} bytes, not a multiple of 4 * dim = {4 * dim}")
    rows = [struct.unpack_from(f"<{dim}f", matrix, 4 * dim * r) for r in range(len(matrix) // (4 * dim))]
    out: list[list[tuple[int, float]]] = []
    for q in range(len(queries) // (4 * dim)):
        query = struct.unpack_from(f"<{dim}f", queries, 4 * dim * q)
        scores = [math.fsum(a * b for a, b in zip(query, row, strict=True)) for row in rows]
        best = sorted(range(len(rows)), key=lambda r: (-scores[r], r))[:k]
        out.append([(r, scores[r]) for r in best])
    return out


# -- credential redaction (rust/src/redact.rs) ------------------------------------------------------------------
_REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(secret|token|passw|api[_-]?key|authorization|credential|private[_-]?key|cookie|session)", re.IGNORECASE
)
_CREDENTIALS = re.compile(
    "|".join(
        (
            r"xox[abeoprs]-[A-Za-z0-9-]+",
            r"xapp-[A-Za-z0-9-]+",
            r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
            r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{8,}",
            r"(?<![A-Za-z0-9])[rsp]k_(?:live|test)_[A-Za-z0-9]{8,}",
            r"whsec_[A-Za-z0-9+/=_-]+",
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{12,}",
            r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{20,}",
            r"github_pat_[A-Za-z0-9_]{20,}",
            r"glpat-[A-Za-z0-9_-]{20,}",
            r"AIza[0-9A-Za-z_-]{30,}",
            r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}",
            r"(?<![A-Za-z0-9])SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
            r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        )
    )
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}")
_AUTHORIZATION = re.compile(r"(?i)\b(authorization\s*[:=]\s*)[^\n\"',;]+")
_ASSIGNMENT = re.compile(
    r"(?i)\b((?:password|passwd|pwd|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|"
    r"auth[_-]?token|access[_-]?token|refresh[_-]?token|private[_-]?key)[\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&,;]+)"
)
_QUERY_TOKEN = re.compile(r"(?i)([?&](?:token|sig|signature|key|auth|access_token|code)=)[^&#\s]+")
_USERINFO = re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+@")


def scrub_py(text: str) -> str:
    """``_core.scrub``: the six passes of rust/src/redact.rs, in order, with Python's ``re``."""
    if not text:
        return text
    text = _CREDENTIALS.sub(_REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {_REDACTED}", text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + _REDACTED, text)
    text = _ASSIGNMENT.sub(lambda m: m.group(1) + _REDACTED, text)
    text = _QUERY_TOKEN.sub(lambda m: m.group(1) + _REDACTED, text)
    return _USERINFO.sub(_REDACTED + "@", text)


def clean_py(value: Any, depth: int = 0) -> Any:
    """A JSON tree without secret-named keys and with every string scrubbed; deeper than 32: None."""
    if depth > 32:
        return None
    if isinstance(value, str):
        return scrub_py(value)
    if isinstance(value, dict):
        return {k: clean_py(v, depth + 1) for k, v in value.items() if not _SECRET_KEY.search(k)}
    if isinstance(value, list):
        return [clean_py(v, depth + 1) for v in value]
    return value


def is_secret_key_py(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def redact_json_py(docs: list[bytes]) -> list[bytes]:
    """``_core.redact_json``: decode, clean, encode (key order kept)."""
    return [json.dumps(clean_py(json.loads(doc)), separators=(",", ":"), ensure_ascii=False).encode() for doc in docs]
