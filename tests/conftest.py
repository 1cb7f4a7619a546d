"""Fixtures shared by every test: the two storage backends and an app wired to each."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

PG_ADMIN_URL = os.environ.get("LIM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_url(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


async def _create_db(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_db(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database_factory() -> Iterator[Callable[[], str]]:
    """Makes fresh PostgreSQL databases (URLs); all are dropped at the end of the session."""
    made: list[str] = []

    def make() -> str:
        name = f"lim_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_create_db(name))
        made.append(name)
        return _pg_url(name)

    yield make
    for name in made:
        asyncio.run(_drop_db(name))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/lim.db"
    factory: Callable[[], str] = request.getfixturevalue("pg_database_factory")
    return factory()


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def t0() -> datetime:
    return T0
