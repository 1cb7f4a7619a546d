"""Stubs for the Rust extension `llm_incident_manager._core` (checked by mypy.stubtest)."""

__version__: str

def fingerprint_batch(items: list[dict[str, str] | tuple[str, str]]) -> list[str]:
    """Fingerprints a batch in order: a label dict gives Alertmanager's FNV-1a 64 fingerprint (16 hex
    digits); a ``(scope, key)`` tuple gives SHA-256 of ``scope 0x00 key`` (64 hex digits)."""

def label_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of one label set, as 16 hex digits."""

def key_fingerprint(scope: str, key: str) -> str:
    """SHA-256 of an explicit dedup key within its scope, as 64 hex digits."""

def normalize_texts(texts: list[str]) -> list[str]:
    """Normalises alert titles for comparison, in order: tokens are the runs of alphanumeric characters (and
    ``#``, and ``.``/``,`` between two digits); a token that is an id becomes ``#`` (a hex id: 8+ hex digits
    with a digit and a letter; a generated name part: 5+ characters of digits and the consonants
    ``bcdfghjklmnpqrstvwxz``, as in Kubernetes pod names; the five parts of an 8-4-4-4-12 hex UUID); other
    tokens are split at camelCase boundaries and before a digit that follows a non-digit, lower-cased, and every
    number (``[0-9]+([.,][0-9]+)*``) becomes ``#``. Words are joined by one space; ``""`` stays ``""``.
    ``"Pod vllm-7f9c4d8b6-x2kqp OOMKilled"`` gives ``"pod vllm # # oom killed"``. The full rule is in
    rust/src/text.rs."""

def fuzzy_ratio(a: str, b: str) -> float:
    """``rapidfuzz.fuzz.ratio(a, b) / 100``: the normalised Indel similarity of the strings as given,
    ``1 - (len(a) + len(b) - 2 * LCS) / (len(a) + len(b))`` over code points, in 0.0..1.0 (1.0 for two empty
    strings)."""

def fuzzy_scores(query: str, choices: list[str]) -> list[float]:
    """``fuzzy_ratio(query, choice)`` for each choice, in order; the query is prepared once and the batch runs
    with the GIL released."""

def token_set_scores(query: str, choices: list[str]) -> list[float]:
    """rapidfuzz's token-set ratio of ``query`` and each choice (words split at ASCII whitespace; an extra word
    on one side still scores 1.0), in order, with the GIL released. Sharing fewer than two words, the score is
    the ratio of each side's sorted words. Exact rule in rust/src/fuzzy.rs."""

def embed_texts(texts: list[str], dim: int = 256) -> bytes:
    """Model-free text embeddings by feature hashing: the words (split on ASCII whitespace; pass normalised
    text), word bigrams and the character trigrams of each space-padded word, hashed (FNV-1a 64) into ``dim``
    signed buckets and L2-normalised (an empty text gives zeros). Returns ``len(texts) * dim`` little-endian
    float32, row-major; deterministic across runs and platforms. ``dim`` must be in 8..4096 (ValueError)."""

def cosine_topk(queries: bytes, matrix: bytes, dim: int, k: int) -> list[list[tuple[int, float]]]:
    """For each query row of ``queries`` (q x dim little-endian float32), the top ``min(k, n)`` rows of
    ``matrix`` (n x dim) by dot product, as ``(row index, score)``, best first, ties by lower index. The rows of
    ``embed_texts`` are unit vectors, so their dot products are cosine similarities. ValueError when ``dim`` or
    ``k`` is below 1 or a byte length is not a multiple of ``4 * dim``. Runs with the GIL released (on all cores
    for large matrices)."""

def scrub(text: str) -> str:
    """``text`` with whatever looks like a credential replaced by ``[redacted]``: known token shapes (Slack,
    OpenAI/Anthropic, Stripe, AWS, GitHub, GitLab, Google, Hugging Face, SendGrid, JWTs, PEM private keys),
    ``Bearer <token>``, ``Authorization: <anything>``, ``password=...``-style assignments, ``?token=...`` and
    ``user:password@`` in URLs (rust/src/redact.rs). The same object when nothing is masked."""

def is_secret_key(key: str) -> bool:
    """Whether a label, annotation or data key names a secret (``api_key``, ``X-Session``, ``password``, ...)."""

def redact_json(docs: list[bytes]) -> list[bytes]:
    """Each JSON document with secret-named keys removed at every depth and every string scrubbed, numbers
    with their digits and keys in their order; a value nested deeper than 32 becomes ``null``. In order, with
    the GIL released. Raises ValueError naming the first document that is not JSON."""

__all__ = [
    "__version__",
    "cosine_topk",
    "embed_texts",
    "fingerprint_batch",
    "fuzzy_ratio",
    "fuzzy_scores",
    "is_secret_key",
    "key_fingerprint",
    "label_fingerprint",
    "normalize_texts",
    "redact_json",
    "scrub",
    "token_set_scores",
]
