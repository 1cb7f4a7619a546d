"""The LLM-serving fleet the load test and the benchmarks both draw their alerts from."""

from __future__ import annotations

__all__ = ["MODELS", "REGIONS", "SERVICES"]

SERVICES = (
    "inference-gateway", "chat-api", "completion-api", "embedding-api", "vllm-serving", "triton-serving",
    "reranker", "rag-retriever", "moderation", "batch-inference", "tokenizer-svc", "finetune-worker",
)  # fmt: skip
MODELS = (
    "llama-3.1-70b-instruct", "llama-3.1-8b-instruct", "mixtral-8x22b", "qwen2.5-72b", "mistral-large-2",
    "gemma-2-27b", "phi-3.5-mini", "bge-large-en-v1.5", "e5-mistral-7b", "deepseek-v2.5",
)  # fmt: skip
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1")
