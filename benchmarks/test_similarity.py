"""The text-similarity kernels of ``_core`` against the obvious alternatives, on the same data.

* ``fuzzy_scores`` (one query against 1,000 normalised alert titles) against rapidfuzz's own ``process.cdist``
  (C++, one query row) and against a Python loop of ``rapidfuzz.fuzz.ratio``;
* ``cosine_topk`` (k=10, one query against 1,000 / 10,000 / 100,000 unit rows of 384 float32) against numpy
  (``M @ q``, ``argpartition``, sort of the 10), both reading the same bytes (numpy through ``np.frombuffer``);
* ``embed_texts`` and ``normalize_texts`` on 1,000 titles against their pure-Python references.

Every benchmark checks that both sides give the same answer (outside the timed part).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from loadtest.fleet import MODELS, REGIONS, SERVICES
from pytest_benchmark.fixture import BenchmarkFixture
from rapidfuzz import fuzz, process

from llm_incident_manager import _core
from llm_incident_manager.pipeline import reference

SEED = 20261129
TITLES = 1_000
DIM = 384
K = 10
ROWS = (1_000, 10_000, 100_000)

ALERTNAMES = (
    "ModelLatencyP99High", "TokenCostSpike", "HallucinationRateHigh", "GPUMemoryHigh", "GPUTempHigh", "OOMKilled",
    "RateLimitExceeded", "QuotaExhaustionSoon", "GPUNodeDown", "GPUXidError", "HTTPErrors5xx", "EvalScoreDrop",
)  # fmt: skip
_K8S = "bcdfghjklmnpqrstvwxz2456789"


def make_titles(rng: random.Random, n: int) -> list[str]:
    """``n`` alert titles as an LLM-serving fleet's rules and detectors write them: names, numbers, pods, ids."""

    def pod(service: str) -> str:
        return f"{service}-{''.join(rng.choices(_K8S, k=9))}-{''.join(rng.choices(_K8S, k=5))}"

    templates: list[Callable[[str, str, str, str], str]] = [
        lambda a, s, m, r: f"{a}: p99 latency {rng.uniform(0.5, 9):.2f}s on {m} in {r}",
        lambda a, s, m, r: (
            f"{a} on {s} ({m}, {r}): {rng.uniform(1, 40):.1f}% of requests above {rng.choice((500, 1000, 2000))} ms"
        ),
        lambda a, s, m, r: (
            f"{a}: GPU {rng.randint(0, 7)} memory at {rng.uniform(90, 100):.1f}% on node gpu-{rng.randint(1, 64)} ({r})"
        ),
        lambda a, s, m, r: f"{a}: pod {pod(s)} restarted {rng.randint(2, 30)} times in {r}",
        lambda a, s, m, r: (
            f"{a} for {m}: hallucination rate {rng.uniform(0.01, 0.3):.3f} over {rng.randint(100, 5000)} evals"
        ),
        lambda a, s, m, r: f"{a}: token spend ${rng.uniform(100, 90000):,.2f}/h on {m} (prod)",
        lambda a, s, m, r: (
            f"{a}: request {rng.getrandbits(128):032x} to {s} failed with HTTP {rng.choice((500, 502, 503, 504))}"
        ),
        lambda a, s, m, r: f"{a}: tenant t-{rng.getrandbits(40):010x} over {rng.randint(100, 9000)}/min on {s}",
    ]
    return [
        rng.choice(templates)(rng.choice(ALERTNAMES), rng.choice(SERVICES), rng.choice(MODELS), rng.choice(REGIONS))
        for _ in range(n)
    ]


@pytest.fixture(scope="session")
def raw_titles() -> list[str]:
    return make_titles(random.Random(SEED), TITLES)


@pytest.fixture(scope="session")
def titles(raw_titles: list[str]) -> list[str]:
    normalised = _core.normalize_texts(raw_titles)
    assert reference.normalize_texts_py(raw_titles) == normalised
    return normalised


@pytest.fixture(scope="session")
def query_title() -> str:
    (title,) = _core.normalize_texts(make_titles(random.Random(SEED + 1), 1))
    return title


# --- fuzzy --------------------------------------------------------------------------------------------------------


Scores = Callable[[str, list[str]], "list[float] | np.ndarray"]


def _cdist(query: str, choices: list[str]) -> np.ndarray:
    """rapidfuzz's C++ one-to-many path: a 1 x n score matrix (float32, 0..100)."""
    return process.cdist([query], choices, scorer=fuzz.ratio)[0]


def _ratio_loop(query: str, choices: list[str]) -> list[float]:
    return [fuzz.ratio(query, choice) for choice in choices]


def _check_fuzzy(scores: Scores, result: list[float] | np.ndarray, query: str, titles: list[str]) -> None:
    """rapidfuzz scores are percentages, ours fractions; cdist's are float32, so within 1e-5 of ours."""
    got = np.asarray(result, dtype=np.float64) / (1.0 if scores is _core.fuzzy_scores else 100.0)
    np.testing.assert_allclose(got, _core.fuzzy_scores(query, titles), rtol=0, atol=1e-5)


@pytest.mark.benchmark(group="fuzzy: 1 query vs 1,000 normalised titles, vs rapidfuzz.process.cdist")
@pytest.mark.usefixtures("record_median")
@pytest.mark.parametrize("scores", [_core.fuzzy_scores, _cdist], ids=["rust", "rapidfuzz-cdist"])
def test_fuzzy_against_cdist(benchmark: BenchmarkFixture, scores: Scores, query_title: str, titles: list[str]) -> None:
    _check_fuzzy(scores, benchmark(scores, query_title, titles), query_title, titles)
    assert max(_core.fuzzy_scores(query_title, titles)) > 0.6  # the query looks like some of the titles


@pytest.mark.benchmark(group="fuzzy: 1 query vs 1,000 normalised titles, vs a Python loop of rapidfuzz.fuzz.ratio")
@pytest.mark.usefixtures("record_median")
@pytest.mark.parametrize("scores", [_core.fuzzy_scores, _ratio_loop], ids=["rust", "rapidfuzz-loop"])
def test_fuzzy_against_ratio_loop(
    benchmark: BenchmarkFixture, scores: Scores, query_title: str, titles: list[str]
) -> None:
    _check_fuzzy(scores, benchmark(scores, query_title, titles), query_title, titles)
    assert fuzz.ratio(query_title, titles[0]) / 100 == pytest.approx(_core.fuzzy_ratio(query_title, titles[0]))


# --- top-k --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vectors:
    """One query and a matrix of unit rows, as bytes and as numpy views of those same bytes, per row count."""

    query_bytes: bytes
    query: np.ndarray
    matrix_bytes: dict[int, bytes]
    matrix: dict[int, np.ndarray]


@pytest.fixture(scope="session")
def vectors() -> Vectors:
    rng = np.random.default_rng(SEED)
    # Uniform rather than normal components: as good for a dot-product benchmark, and 4x faster to draw.
    rows = rng.random((max(ROWS) + 1, DIM), dtype=np.float32) - np.float32(0.5)
    rows /= np.sqrt(np.einsum("ij,ij->i", rows, rows))[:, None]
    # The query: a slightly perturbed copy of row 77, so there is a clear best match.
    rows[-1] = rows[77] + 0.05 * rows[-1]
    rows[-1] /= np.linalg.norm(rows[-1])
    data = rows.astype("<f4", copy=False).tobytes()
    del rows
    row_bytes = 4 * DIM
    query_bytes = data[-row_bytes:]
    matrix_bytes = {n: data[: n * row_bytes] for n in ROWS}
    return Vectors(
        query_bytes=query_bytes,
        query=np.frombuffer(query_bytes, dtype="<f4"),
        matrix_bytes=matrix_bytes,
        matrix={n: np.frombuffer(b, dtype="<f4").reshape(n, DIM) for n, b in matrix_bytes.items()},
    )


def numpy_topk(query: np.ndarray, matrix: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The obvious numpy top-k: scores by one matrix-vector product, ``argpartition`` for the k best, then sort
    those k by score descending, ties by lower index."""
    scores = matrix @ query
    top = np.argpartition(-scores, k)[:k]
    top = top[np.lexsort((top, -scores[top]))]
    return list(zip(top.tolist(), scores[top].tolist(), strict=True))


def _topk(benchmark: BenchmarkFixture, implementation: str, vectors: Vectors, rows: int) -> None:
    if benchmark.enabled:
        # After a matrix product, OpenBLAS keeps its worker threads spinning for about 0.1-0.2 s (measured here):
        # let them stop, so that neither side is timed against the other's leftovers on a 2-core machine.
        time.sleep(0.3)
    if implementation == "rust":
        (result,) = benchmark(_core.cosine_topk, vectors.query_bytes, vectors.matrix_bytes[rows], DIM, K)
    else:
        result = benchmark(numpy_topk, vectors.query, vectors.matrix[rows], K)
    expected = numpy_topk(vectors.query, vectors.matrix[rows], K)
    assert [i for i, _ in result] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in result], [s for _, s in expected], rtol=0, atol=1e-5)
    assert result[0][0] == 77


TOPK = pytest.mark.parametrize("implementation", ["rust", "numpy"])


@pytest.mark.benchmark(group="cosine_topk k=10: 1 query vs 1,000 x 384 float32")
@pytest.mark.usefixtures("record_median")
@TOPK
def test_topk_1k(benchmark: BenchmarkFixture, implementation: str, vectors: Vectors) -> None:
    _topk(benchmark, implementation, vectors, 1_000)


@pytest.mark.benchmark(group="cosine_topk k=10: 1 query vs 10,000 x 384 float32")
@pytest.mark.usefixtures("record_median")
@TOPK
def test_topk_10k(benchmark: BenchmarkFixture, implementation: str, vectors: Vectors) -> None:
    _topk(benchmark, implementation, vectors, 10_000)


@pytest.mark.benchmark(group="cosine_topk k=10: 1 query vs 100,000 x 384 float32")
@pytest.mark.usefixtures("record_median")
@TOPK
def test_topk_100k(benchmark: BenchmarkFixture, implementation: str, vectors: Vectors) -> None:
    _topk(benchmark, implementation, vectors, 100_000)


# --- embeddings and normalisation ---------------------------------------------------------------------------------


@pytest.mark.benchmark(group="embed_texts: 1,000 normalised titles, dim 256")
@pytest.mark.usefixtures("record_median")
@pytest.mark.parametrize("embed", [_core.embed_texts, reference.embed_texts_py], ids=["rust", "python"])
def test_embed(benchmark: BenchmarkFixture, embed: Callable[[list[str], int], bytes], titles: list[str]) -> None:
    """Rust and Python give the same bytes (bit for bit, see tests/unit/test_kernels.py)."""
    assert benchmark(embed, titles, 256) == _embeddings(titles)


_EMBEDDINGS: dict[str, bytes] = {}


def _embeddings(titles: list[str]) -> bytes:
    if "expected" not in _EMBEDDINGS:
        expected = _core.embed_texts(titles, 256)
        assert expected == reference.embed_texts_py(titles, 256)
        _EMBEDDINGS["expected"] = expected
    return _EMBEDDINGS["expected"]


@pytest.mark.benchmark(group="normalize_texts: 1,000 alert titles")
@pytest.mark.usefixtures("record_median")
@pytest.mark.parametrize("normalize", [_core.normalize_texts, reference.normalize_texts_py], ids=["rust", "python"])
def test_normalize(
    benchmark: BenchmarkFixture, normalize: Callable[[list[str]], list[str]], raw_titles: list[str], titles: list[str]
) -> None:
    assert benchmark(normalize, raw_titles) == titles
