"""Stubs for the Rust extension `llm_incident_manager._core` (checked by mypy.stubtest)."""

__version__: str

def fingerprint_batch(items: list[dict[str, str] | tuple[str, str]]) -> list[str]:
    """Fingerprints a batch in order: a label dict gives Alertmanager's FNV-1a 64 fingerprint (16 hex
    digits); a ``(scope, key)`` tuple gives SHA-256 of ``scope 0x00 key`` (64 hex digits)."""

def label_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of one label set, as 16 hex digits."""

def key_fingerprint(scope: str, key: str) -> str:
    """SHA-256 of an explicit dedup key within its scope, as 64 hex digits."""

__all__ = ["__version__", "fingerprint_batch", "key_fingerprint", "label_fingerprint"]
