"""Ingest adapters: one module per wire format, each turning a request body into a list of Alerts."""

from llm_incident_manager.ingest.context import IngestContext

__all__ = ["IngestContext"]
