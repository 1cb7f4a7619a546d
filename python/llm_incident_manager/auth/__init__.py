"""API keys and their roles (api/auth.py checks them per route)."""

from llm_incident_manager.auth.keys import Principal, Role, generate_key, hash_key

__all__ = ["Principal", "Role", "generate_key", "hash_key"]
