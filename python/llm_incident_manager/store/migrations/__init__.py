"""Versioned SQL migrations, one folder per engine: ``NNNN_name.sql`` applied in order, once."""

from __future__ import annotations

from importlib import resources

__all__ = ["Migration", "migrations"]

Migration = tuple[int, str, str]


def migrations(engine: str) -> list[Migration]:
    """(version, name, sql) of every migration of ``engine`` ("sqlite" or "postgres"), in order."""
    folder = resources.files(__package__).joinpath(engine)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)
