"""API keys: 32 hex characters (so they fit where PagerDuty clients expect an integration key), stored only
as SHA-256 hashes. Keys are random 128-bit values, so a fast hash is enough: there is nothing to brute-force."""

from __future__ import annotations

import enum
import hashlib
import secrets
import time
from datetime import datetime

import msgspec

from llm_incident_manager.ids import uuid7
from llm_incident_manager.store.protocol import ApiKeyRecord, Store

__all__ = ["KEY_LENGTH", "KeyCache", "Principal", "Role", "create_key", "generate_key", "hash_key"]

KEY_LENGTH = 32


class Role(enum.StrEnum):
    INGEST = "ingest"
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the key's id, name and role. ``actor`` is what the timeline records."""

    key_id: str
    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"key:{self.name}"


def generate_key() -> str:
    return secrets.token_hex(KEY_LENGTH // 2)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(store: Store, role: Role, name: str, now: datetime) -> tuple[str, ApiKeyRecord]:
    """Creates a key; returns the key itself (shown once) and its stored record."""
    key = generate_key()
    record = ApiKeyRecord(
        id=uuid7(), name=name, role=role.value, prefix=key[:6], key_hash=hash_key(key), created_at=now
    )
    await store.create_key(record)
    return key, record


class KeyCache:
    """Resolves keys to principals, remembering answers for ``ttl`` seconds (so a revoked key stops working
    within ``ttl``, and a flood of requests does not become a flood of queries). An unknown key is remembered
    for at most ``NEGATIVE_TTL`` seconds, so a key created a moment after a failed try works almost at once."""

    NEGATIVE_TTL = 1.0

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    async def resolve(self, key: str) -> Principal | None:
        if len(key) != KEY_LENGTH:
            return None
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        record = await self._store.find_key(digest)
        principal = None
        if record is not None and record.revoked_at is None:
            principal = Principal(record.id, record.name, Role(record.role))
        if len(self._entries) > 10_000:
            self._entries.clear()
        ttl = self._ttl if principal is not None else min(self._ttl, self.NEGATIVE_TTL)
        self._entries[digest] = (now + ttl, principal)
        return principal
