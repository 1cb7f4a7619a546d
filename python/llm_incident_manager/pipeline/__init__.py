"""The one-way ingest pipeline: fingerprint → dedup → (correlate, route: later) → persist.

Only ``pipeline.builder`` knows the order of the stages.
"""

__all__: list[str] = []
