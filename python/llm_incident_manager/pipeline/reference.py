"""Pure-Python reference implementations of the Rust kernels.

Property tests check the Rust kernels against these (parity), and benchmarks run them side by side with the
Rust ones. The service never calls them.
"""

from __future__ import annotations

import hashlib

__all__ = ["fingerprint_batch", "key_fingerprint", "label_fingerprint"]

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
