"""Chooses the store from ``LIM_DATABASE_URL``."""

from __future__ import annotations

from llm_incident_manager.config import Settings
from llm_incident_manager.store.postgres import PostgresStore
from llm_incident_manager.store.protocol import Store
from llm_incident_manager.store.sqlite import SQLiteStore

__all__ = ["make_store"]


def make_store(settings: Settings) -> Store:
    url = settings.database_url
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, max_size=settings.pg_pool_size, timeout=settings.db_timeout_seconds)
    if url.startswith("sqlite:"):
        return SQLiteStore(url, synchronous=settings.sqlite_synchronous, timeout=settings.db_timeout_seconds)
    msg = f"LIM_DATABASE_URL: unsupported scheme in {url!r}; use sqlite:///PATH or postgresql://..."
    raise ValueError(msg)
