"""The text-similarity kernels of ``_core``: examples, error cases, and parity with the pure-Python references.

Parity is exact for ``normalize_texts``; ``fuzzy_ratio``/``fuzzy_scores`` also match ``rapidfuzz.fuzz.ratio / 100``;
``embed_texts`` within 1e-5 per component (in practice bit for bit); ``cosine_topk`` the same rows up to ties and
scores within 1e-4 (the Rust kernel sums in float32, the reference in float64).
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from llm_incident_manager import _core
from llm_incident_manager.pipeline import reference

# Python 3.11's str methods use Unicode 14 tables, Rust's char methods a newer Unicode, and they define
# "alphanumeric" a little differently (rust/src/text.rs): characters on which they disagree are left out of the
# parity tests. Those are unassigned code points (Cn, per Python), combining marks and symbols that Unicode
# calls alphabetic (Mn, Mc, Me, So: Ⓐ, U+0345), and six letters whose Lowercase property changed since 14.0.
UNICODE = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cn", "Mn", "Mc", "Me", "So"),
    exclude_characters="\u0295\u10fc\ua7f2\ua7f3\ua7f4\uab69",
)
FRAGMENTS = (
    "GPU", "Node", "Down", "HTTPErrors5xx", "OOMKilled", "p95", "P99High", "2.41", "1,024", "1.2.3", "deadbeef12",
    "DEADBEEF12", "x2kqp", "b1c2d", "xkqpz", "7f9c4d8b6", "https", "llama3", "70b",
    "123e4567-e89b-12d3-a456-426614174000", "deadbeef-beef-beef-beef-deadbeefbeef", "-", "_", " ", "  ", "\t", ".",
    ",", "..", "#", "/", ":", "Σ", "İ", "ß", "ÜberFehler", "日本語", "3件", "ǅ", "Ⅻ", "\u00a0",
)  # fmt: skip
alert_text = st.lists(st.sampled_from(FRAGMENTS) | st.text(UNICODE, max_size=6), max_size=12).map("".join)
any_text = st.text(UNICODE, max_size=40) | alert_text


# --- normalize_texts --------------------------------------------------------------------------------------------

EXAMPLES = [
    ("HallucinationRateHigh", "hallucination rate high"),
    ("GPUNodeDown", "gpu node down"),
    ("HTTPErrors5xx", "http errors #xx"),
    ("ModelLatencyP99High", "model latency p # high"),
    ("p95 latency 2.41s on llama3-70b", "p # latency #s on llama # #b"),
    ("Pod vllm-7f9c4d8b6-x2kqp OOMKilled", "pod vllm # # oom killed"),
    ("trace deadbeef12 DEADBEEF12", "trace # #"),
    ("req 123e4567-e89b-12d3-a456-426614174000 failed", "req # # # # # failed"),
    ("deadbeef beef12 llama3 qwen2 https vllm", "deadbeef beef # llama # qwen # # vllm"),
    ("mixtral-8x22b 8x7b", "mixtral # #x #b"),
    ("1,024 tokens, 1.2.3", "# tokens #"),
    ("a 1. b ,2 3..4 #42", "a # b # # # ##"),
    ("ÜberFehler Straße ΣΊΣΥΦΟΣ", "über fehler straße σίσυφοσ"),
    ("日本語のエラー 3件", "日本語のエラー #件"),
    ("", ""),
    (" -_/ ", ""),
]


@pytest.mark.parametrize(("text", "expected"), EXAMPLES)
def test_normalize_examples(text: str, expected: str) -> None:
    assert _core.normalize_texts([text]) == [expected]
    assert reference.normalize_texts_py([text]) == [expected]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("p95 latency 2.41s on llama3-70b", "p95 latency 3.07s on llama3-70b"),
        ("Pod vllm-7f9c4d8b6-x2kqp OOMKilled", "Pod vllm-5d6e7f8a9-b1c2d OOMKilled"),
        ("Pod vllm-7f9c4d8b6-x2kqp OOMKilled", "Pod vllm-6b8d9f7c5-xkqpz OOMKilled"),
        ("req 123e4567-e89b-12d3-a456-426614174000 timed out", "req 9f1c2d3e-4a5b-6c7d-8e9f-a0b1c2d3e4f5 timed out"),
    ],
)  # fmt: skip
def test_repeats_normalise_to_the_same_text(a: str, b: str) -> None:
    out = _core.normalize_texts([a, b])
    assert out[0] == out[1]
    assert reference.normalize_texts_py([a, b]) == out


def test_normalize_keeps_order_and_rejects_non_str() -> None:
    assert _core.normalize_texts([]) == []
    assert _core.normalize_texts(["A1", "", "bB"]) == ["a #", "", "b b"]
    with pytest.raises(TypeError):
        _core.normalize_texts(["ok", 1])  # type: ignore[list-item]


@given(st.lists(any_text, max_size=5))
@settings(max_examples=400)
def test_normalize_matches_reference(texts: list[str]) -> None:
    assert _core.normalize_texts(texts) == reference.normalize_texts_py(texts)


# --- fuzzy_ratio / fuzzy_scores ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 1.0),
        ("abc", "", 0.0),
        ("this is a test", "this is a test!", 28 / 29),
        ("ab", "abc", 0.8),  # rapidfuzz-rs 0.5.0's RatioBatchComparator says 2/3 here (rust/src/fuzzy.rs)
        ("gpu memory high on node #", "gpu memory high on node # in region #", 50 / 62),
    ],
)
def test_fuzzy_examples(a: str, b: str, expected: float) -> None:
    assert _core.fuzzy_ratio(a, b) == pytest.approx(expected, abs=1e-12)
    assert _core.fuzzy_scores(a, [b, a]) == pytest.approx([expected, 1.0], abs=1e-12)
    assert reference.fuzzy_ratio_py(a, b) == pytest.approx(expected, abs=1e-12)
    assert fuzz.ratio(a, b) / 100 == pytest.approx(expected, abs=1e-12)


small_text = st.text(st.sampled_from("ab #x"), max_size=12)
fuzzy_text = st.text(UNICODE, max_size=30) | alert_text | small_text | st.text(st.sampled_from("ab c#"), max_size=150)


@given(fuzzy_text, fuzzy_text)
@settings(max_examples=400)
def test_fuzzy_ratio_matches_reference_and_rapidfuzz(a: str, b: str) -> None:
    got = _core.fuzzy_ratio(a, b)
    assert got == pytest.approx(reference.fuzzy_ratio_py(a, b), abs=1e-9)
    assert got == pytest.approx(fuzz.ratio(a, b) / 100, abs=1e-9)


@given(fuzzy_text, st.lists(fuzzy_text, max_size=8))
def test_fuzzy_scores_matches_reference_and_rapidfuzz(query: str, choices: list[str]) -> None:
    got = _core.fuzzy_scores(query, choices)
    assert got == pytest.approx(reference.fuzzy_scores_py(query, choices), abs=1e-9)
    assert got == pytest.approx([fuzz.ratio(query, c) / 100 for c in choices], abs=1e-9)
    assert got == [_core.fuzzy_ratio(query, c) for c in choices]


def test_fuzzy_scores_rejects_non_str() -> None:
    assert _core.fuzzy_scores("x", []) == []
    with pytest.raises(TypeError):
        _core.fuzzy_scores("x", ["ok", None])  # type: ignore[list-item]


# --- embed_texts ------------------------------------------------------------------------------------------------


def _rows(data: bytes, dim: int) -> list[tuple[float, ...]]:
    return [struct.unpack_from(f"<{dim}f", data, 4 * dim * r) for r in range(len(data) // (4 * dim))]


def test_embed_fixed_vector() -> None:
    # By the definition (rust/src/embed.rs): the 17 features of "gpu memory high" land in 8 buckets as
    # (-1.5, -1.5, 1.5, 0.5, 1, -0.5, -2, 0), of norm 3.5. Pinned so that a change of hashing shows.
    expected = struct.pack("<8f", -3 / 7, -3 / 7, 3 / 7, 1 / 7, 2 / 7, -1 / 7, -4 / 7, 0.0)
    assert _core.embed_texts(["gpu memory high"], 8) == expected
    assert reference.embed_texts_py(["gpu memory high"], 8) == expected


def test_embed_shape_norm_and_empty() -> None:
    texts = ["gpu memory high on node #", "", "  \t ", "model latency p # high"]
    data = _core.embed_texts(texts)
    assert len(data) == 4 * 256 * len(texts)
    rows = _rows(data, 256)
    assert math.fsum(x * x for x in rows[0]) == pytest.approx(1.0, abs=1e-6)
    assert rows[1] == rows[2] == (0.0,) * 256
    assert data == reference.embed_texts_py(texts)  # bit for bit
    assert _core.embed_texts([]) == b""
    assert _core.embed_texts(texts[:1], 8) == _core.embed_texts(texts[:1], dim=8)


def test_similar_titles_embed_close() -> None:
    titles = ["gpu memory high on node #", "gpu memory high on node # in region #", "token cost spike"]
    a, b, c = _rows(_core.embed_texts(titles), 256)
    assert sum(x * y for x, y in zip(a, b, strict=True)) > 0.6
    assert sum(x * y for x, y in zip(a, c, strict=True)) < 0.3


@pytest.mark.parametrize("dim", [-1, 0, 7, 4097, 1 << 40])
def test_embed_rejects_bad_dim(dim: int) -> None:
    with pytest.raises(ValueError, match="dim"):
        _core.embed_texts(["x"], dim)
    with pytest.raises(ValueError, match="dim"):
        reference.embed_texts_py(["x"], dim)


def test_embed_accepts_the_dim_bounds() -> None:
    assert len(_core.embed_texts(["x"], 8)) == 32
    assert len(_core.embed_texts(["x"], 4096)) == 4 * 4096


@given(st.lists(any_text, max_size=4), st.sampled_from([8, 9, 64, 256, 384]))
def test_embed_matches_reference(texts: list[str], dim: int) -> None:
    got = _rows(_core.embed_texts(texts, dim), dim)
    want = _rows(reference.embed_texts_py(texts, dim), dim)
    assert len(got) == len(want) == len(texts)
    for g, w in zip(got, want, strict=True):
        assert max((abs(x - y) for x, y in zip(g, w, strict=True)), default=0.0) <= 1e-5


# --- cosine_topk ------------------------------------------------------------------------------------------------


def _f32(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def _assert_same_topk(
    got: list[list[tuple[int, float]]], want: list[list[tuple[int, float]]], queries: bytes, matrix: bytes, dim: int
) -> None:
    """Same rows up to ties (scores within 1e-4 are ties) and scores within 1e-4."""
    assert len(got) == len(want)
    n = len(matrix) // (4 * dim)
    for q, (g, w) in enumerate(zip(got, want, strict=True)):
        assert len(g) == len(w)
        assert len({i for i, _ in g}) == len(g)
        query = queries[4 * dim * q : 4 * dim * (q + 1)]
        exact = dict(reference.cosine_topk_py(query, matrix, dim, n)[0]) if n else {}
        for (gi, gs), (_, ws) in zip(g, w, strict=True):
            assert abs(gs - ws) <= 1e-4
            assert abs(gs - exact[gi]) <= 1e-4
        if w:
            kth = w[-1][1]
            assert all(exact[i] >= kth - 1e-4 for i, _ in g)
        # Best first, ties by lower index, in the kernel's own scores.
        assert g == sorted(g, key=lambda hit: (-hit[1], hit[0]))


def test_cosine_topk_example() -> None:
    matrix = _f32([1, 0, 0, 0, 1, 0, 0.6, 0.8, 0, 1, 0, 0, -1, 0, 0])
    queries = _f32([1, 0, 0, 0, 0, 1])
    got = _core.cosine_topk(queries, matrix, 3, 3)
    assert [[i for i, _ in row] for row in got] == [[0, 3, 2], [0, 1, 2]]
    assert got[0][2][1] == pytest.approx(0.6, abs=1e-6)
    assert reference.cosine_topk_py(queries, matrix, 3, 3) == got
    assert [i for i, _ in _core.cosine_topk(queries[:12], matrix, 3, 99)[0]] == [0, 3, 2, 1, 4]


def test_cosine_topk_empty_sides() -> None:
    query = _f32([1, 0])
    assert _core.cosine_topk(query, b"", 2, 5) == [[]]
    assert _core.cosine_topk(query + query, b"", 2, 5) == [[], []]
    assert _core.cosine_topk(b"", _f32([1, 0]), 2, 5) == []
    assert reference.cosine_topk_py(query, b"", 2, 5) == [[]]


@pytest.mark.parametrize(
    ("queries", "matrix", "dim", "k", "message"),
    [
        (_f32([1, 0]), _f32([1, 0]), 0, 1, "dim"),
        (_f32([1, 0]), _f32([1, 0]), -2, 1, "dim"),
        (_f32([1, 0]), _f32([1, 0]), 2, 0, "k must"),
        (_f32([1, 0]), _f32([1, 0]), 2, -1, "k must"),
        (_f32([1, 0])[:7], _f32([1, 0]), 2, 1, "queries"),
        (_f32([1, 0]), _f32([1, 0, 1]), 2, 1, "matrix"),
        (_f32([1, 0, 1]), _f32([1, 0, 1]), 2, 1, "queries"),
        (_f32([1, 0]), _f32([1, 0]), 2**62, 1, "queries"),
    ],
)
def test_cosine_topk_rejects_bad_shapes(queries: bytes, matrix: bytes, dim: int, k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _core.cosine_topk(queries, matrix, dim, k)
    with pytest.raises(ValueError, match=message):
        reference.cosine_topk_py(queries, matrix, dim, k)


def test_cosine_topk_of_embeddings_ranks_the_same_title_first() -> None:
    titles = _core.normalize_texts(["GPUMemoryHigh on gpu-7", "TokenCostSpike for chat-api", "OOMKilled pod x2kqp"])
    matrix = _core.embed_texts(titles, 384)
    query = _core.embed_texts(_core.normalize_texts(["GPUMemoryHigh on gpu-12"]), 384)
    (best, score), *_ = _core.cosine_topk(query, matrix, 384, 3)[0]
    assert best == 0
    assert score == pytest.approx(1.0, abs=1e-6)


def test_cosine_topk_large_matrix_agrees_with_numpy() -> None:
    """5,000 x 384 takes the parallel path of the kernel (rust/src/similarity.rs, PARALLEL_MIN_VALUES)."""
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((5000, 384), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    queries = matrix[[17, 4321]] + rng.standard_normal((2, 384), dtype=np.float32) * 0.01
    got = _core.cosine_topk(queries.astype("<f4").tobytes(), matrix.astype("<f4").tobytes(), 384, 10)
    scores = queries.astype(np.float64) @ matrix.astype(np.float64).T
    for q, row in enumerate(got):
        want = np.argsort(-scores[q], kind="stable")[:10]
        assert [i for i, _ in row] == want.tolist()
        assert [s for _, s in row] == pytest.approx(scores[q][want].tolist(), abs=1e-4)
    assert got[0][0][0] == 17
    assert got[1][0][0] == 4321


finite = st.floats(-1, 1, width=32, allow_subnormal=False)


@st.composite
def topk_case(draw: st.DrawFn) -> tuple[bytes, bytes, int, int]:
    dim = draw(st.integers(1, 24))
    q = draw(st.integers(0, 3))
    n = draw(st.integers(0, 24))
    k = draw(st.integers(1, 30))
    # Few distinct values make ties likely.
    values = draw(st.sampled_from([finite, st.sampled_from([0.0, 0.5, -0.5, 1.0])]))
    queries = draw(st.lists(values, min_size=q * dim, max_size=q * dim))
    matrix = draw(st.lists(values, min_size=n * dim, max_size=n * dim))
    return _f32(queries), _f32(matrix), dim, k


@given(topk_case())
@settings(max_examples=150)
def test_cosine_topk_matches_reference(case: tuple[bytes, bytes, int, int]) -> None:
    queries, matrix, dim, k = case
    got = _core.cosine_topk(queries, matrix, dim, k)
    want = reference.cosine_topk_py(queries, matrix, dim, k)
    _assert_same_topk(got, want, queries, matrix, dim)


# -- token-set ratio (the similarity rule's fuzzy score) -------------------------------------------------------

WORDS = st.lists(st.sampled_from(["gpu", "memory", "rate", "hallucination", "high", "p", "#", "node", "ü", "日本"]),
                 max_size=6).map(" ".join)  # fmt: skip


@settings(max_examples=300)
@given(WORDS, st.lists(WORDS, max_size=5))
def test_token_set_scores_match_the_reference(query: str, choices: list[str]) -> None:
    rust = _core.token_set_scores(query, choices)
    python = reference.token_set_scores_py(query, choices)
    assert rust == pytest.approx(python, abs=1e-9)


@given(WORDS, WORDS)
def test_token_set_is_rapidfuzz_token_set_ratio_when_two_words_are_shared(a: str, b: str) -> None:
    ta, tb = set(a.split()), set(b.split())
    if len(ta & tb) >= 2 and ta != tb:
        [score] = _core.token_set_scores(a, [b])
        assert score == pytest.approx(fuzz.token_set_ratio(a, b) / 100, abs=1e-9)


def test_token_set_examples() -> None:
    assert _core.token_set_scores("hallucination rate", ["hallucination rate threshold", "toxic output rate"]) == [
        1.0,
        pytest.approx(reference.fuzzy_ratio_py("hallucination rate", "output rate toxic")),
    ]
    with pytest.raises(TypeError):
        _core.token_set_scores("a", [1])  # type: ignore[list-item]
