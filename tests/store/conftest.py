"""Fixtures of the event store tests.

``postgres_url``
    A PostgreSQL store URL in a schema made for this test session (dropped at the end), with a table
    prefix unique to the test. The server is ``$BASIS_TEST_POSTGRES_URL`` (default
    ``postgresql://postgres@127.0.0.1:5432/test``). When it cannot be reached the test is skipped, or
    fails when ``CI=true``: continuous integration must run the PostgreSQL backend.
``private_nats``
    A nats-server with JetStream for one test alone. The recorder consumes whole streams and
    dead-letters what it cannot decode, so it must not share a server with tests that publish
    malformed payloads on purpose (the session's ``nats_server``).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from basis.bus.embedded import EmbeddedNats
from basis.bus.store.postgres import DEFAULT_URL, PostgresLocation

POSTGRES_ENV = "BASIS_TEST_POSTGRES_URL"

_prefixes = itertools.count(1)


def _connect(location: PostgresLocation) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=location.host,
        port=location.port,
        user=location.user,
        password=location.password or None,
        dbname=location.dbname,
        connect_timeout=3,
        autocommit=True,
    )


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[tuple[str, str]]:
    """``(server URL, schema)``: a schema of its own for this session on the test server."""
    url = os.environ.get(POSTGRES_ENV, DEFAULT_URL)
    location = PostgresLocation.parse(url)
    try:
        conn = _connect(location)
    except psycopg.Error as exc:
        where = f"{location.host}:{location.port}/{location.dbname}"
        why = f"PostgreSQL not reachable at {where} ({exc}); set ${POSTGRES_ENV}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {why}", pytrace=False)
        pytest.skip(why)
    schema = f"basis_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        yield url.split("?", 1)[0], schema
    finally:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.close()


@pytest.fixture
def postgres_url(postgres_schema: tuple[str, str]) -> str:
    """A PostgreSQL store URL with tables of its own (a fresh prefix in the session's schema)."""
    server, schema = postgres_schema
    return f"{server}?schema={schema}&prefix=t{next(_prefixes)}_"


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    async with EmbeddedNats(tmp_path / "nats") as server:
        yield server
