"""The system of record: one Protocol, two implementations (SQLite embedded, PostgreSQL distributed)."""

from llm_incident_manager.store.protocol import ApiKeyRecord, IncidentQuery, Page, Store

__all__ = ["ApiKeyRecord", "IncidentQuery", "Page", "Store"]
