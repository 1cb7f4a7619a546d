"""API keys, roles and the guards that check them."""

from llm_incident_manager.auth.keys import Principal, Role, generate_key, hash_key

__all__ = ["Principal", "Role", "generate_key", "hash_key"]
