"""Time-sortable identifiers (UUIDv7, RFC 9562)."""

from __future__ import annotations

import os
import random
import threading
import time

__all__ = ["uuid7"]

_lock = threading.Lock()
_last_ms = 0
_seq = 0
# rand_b comes from a PRNG seeded from os.urandom (and reseeded in a forked child, so granian's workers never
# share a sequence): os.urandom per id was a system call on every new incident, and uuid.UUID() formatting
# cost as much again. The time and counter fields keep ids unique within the process; rand_b only keeps
# processes apart.
_rng = random.Random()  # noqa: S311 - not a secret: uniqueness across processes, seeded from os.urandom
os.register_at_fork(after_in_child=_rng.seed)


def uuid7(now_ms: int | None = None) -> str:
    """A UUIDv7 string. Ids made in one process are strictly increasing: within a millisecond a 12-bit
    counter (``rand_a``, RFC 9562 method 1) orders them, and on overflow the timestamp is advanced."""
    global _last_ms, _seq  # noqa: PLW0603 - one process-wide monotonic counter, guarded by the lock
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    with _lock:
        if ms <= _last_ms:
            _seq += 1
            if _seq > 0xFFF:
                _last_ms += 1
                _seq = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _seq = 0
        seq = _seq
    rand_b = _rng.getrandbits(62)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
