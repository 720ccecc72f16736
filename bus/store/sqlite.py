"""SQLite backend: eventsourcing's SQLite process recorder with batch inserts and the run registry.

The file is opened in WAL mode (readers never block the writer). Positions are SQLite rowids of the
``stored_events`` table, exactly as eventsourcing's ``SQLiteApplicationRecorder`` numbers
notifications. The recorder here differs from the library's only in how a batch is inserted: multi-row
``INSERT ... VALUES`` statements (few statements per batch, so few GIL hand-offs and little per-row
Python) instead of one statement per row, after which the batch's rowids are read back as
``MAX(rowid) - n + 1 .. MAX(rowid)`` (the writer holds the database lock and rowids are assigned as
``MAX(rowid) + 1``, so they are consecutive). Tracking rows use the library's single-row tracking table.

``synchronous``: ``full`` (default) makes every commit durable against power loss; ``normal`` keeps
the database consistent and loses no committed transaction when the process dies, only possibly the last
ones on power loss (good for backtests); ``off`` is for throw-away files.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from eventsourcing.persistence import PersistenceError, StoredEvent, Tracking
from eventsourcing.sqlite import (
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteProcessRecorder,
)

from ..errors import StoreError
from .log import LogStore, create_tables
from .rows import EventRows, NewRun, OriginatorKey, RunRow

Synchronous = Literal["off", "normal", "full", "extra"]
SYNCHRONOUS: tuple[str, ...] = ("off", "normal", "full", "extra")

ROWS_PER_STATEMENT = 1024
"""Rows per multi-row INSERT (4 parameters each; SQLite allows 32766 parameters per statement)."""


def sqlite_url(path: str | Path) -> str:
    """The ``sqlite:///`` URL of a file (absolute paths give four slashes)."""
    return f"sqlite:///{path}"


class TunedSQLiteConnectionPool(SQLiteConnectionPool):
    """The library's pool, with ``PRAGMA synchronous`` set on every new connection."""

    def __init__(self, *, synchronous: Synchronous = "full", **kwargs: Any) -> None:
        self.synchronous = synchronous
        super().__init__(**kwargs)

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection.cursor().execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        return connection


class SQLiteStoreDatastore(SQLiteDatastore):
    """A WAL-mode SQLite file holding originator ids as hex text (as the library writes UUIDs)."""

    def __init__(
        self, db_name: str, *, synchronous: Synchronous = "full", lock_timeout: int | None = None
    ) -> None:
        super().__init__(db_name, lock_timeout=lock_timeout, originator_id_type="text")
        self.pool.close()
        self.pool = TunedSQLiteConnectionPool(
            db_name=db_name, lock_timeout=lock_timeout, synchronous=synchronous
        )


class SQLiteLogRecorder(SQLiteProcessRecorder):
    """``SQLiteProcessRecorder`` with batch inserts, returned positions, and the run registry table."""

    def __init__(
        self,
        datastore: SQLiteDatastore,
        *,
        events_table_name: str = "stored_events",
        runs_table_name: str = "stored_runs",
    ) -> None:
        self.runs_table_name = runs_table_name
        super().__init__(datastore, events_table_name=events_table_name)
        self._insert_statements: dict[int, str] = {}
        self.select_last_rowid_statement = f"SELECT MAX(rowid) FROM {self.events_table_name}"
        self.insert_run_statement = f"INSERT INTO {self.runs_table_name} VALUES (?,?,?)"
        self.select_runs_statement = (
            f"SELECT run_id, originator_id, first_position FROM {self.runs_table_name} "
            "ORDER BY first_position"
        )

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {self.runs_table_name} ("
            "run_id TEXT PRIMARY KEY, "
            "originator_id TEXT NOT NULL, "
            "first_position INTEGER NOT NULL)"
        )
        return statements

    def originator_key(self, originator_id: UUID) -> OriginatorKey:
        return originator_id.hex

    def _insert_statement(self, rows: int) -> str:
        statement = self._insert_statements.get(rows)
        if statement is None:
            values = ",".join(["(?,?,?,?)"] * rows)
            statement = self._insert_statements[rows] = (
                f"INSERT INTO {self.events_table_name} VALUES {values}"
            )
        return statement

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(c, tracking)
        n = len(stored_events)
        if n == 0:
            return []
        rows = EventRows.of(stored_events)
        ids, versions, topics, states = rows.columns()
        if not isinstance(rows.originator_ids[0], str):
            ids = [i.hex if isinstance(i, UUID) else i for i in ids]
        params = list(chain.from_iterable(zip(ids, versions, topics, states, strict=True)))
        width = 4 * ROWS_PER_STATEMENT
        full = n // ROWS_PER_STATEMENT
        if full:
            statement = self._insert_statement(ROWS_PER_STATEMENT)
            for i in range(full):
                c.execute(statement, params[i * width : (i + 1) * width])
        rest = n - full * ROWS_PER_STATEMENT
        if rest:
            c.execute(self._insert_statement(rest), params[full * width :])
        c.execute(self.select_last_rowid_statement)
        last: int = c.fetchone()[0]
        first = last - n + 1
        runs: Sequence[NewRun] = kwargs.get("runs") or ()
        if runs:
            c.executemany(self.insert_run_statement, [(r.run_id, r.key, first + r.offset) for r in runs])
        return list(range(first, last + 1))

    def select_runs(self) -> Sequence[tuple[str, OriginatorKey, int]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_runs_statement)
            return [(row[0], row[1], row[2]) for row in c.fetchall()]

    def select_run_rows(
        self,
        originator_key: OriginatorKey,
        *,
        after_version: int,
        limit: int,
        start: int | None = None,
        stop: int | None = None,
        topics: Sequence[str] = (),
    ) -> Sequence[RunRow]:
        key = originator_key.hex if isinstance(originator_key, UUID) else originator_key
        statement = (
            f"SELECT rowid, originator_version, topic, state FROM {self.events_table_name} "
            "WHERE originator_id=? AND originator_version>? "
        )
        params: list[Any] = [key, after_version]
        if start is not None:
            statement += "AND rowid>=? "
            params.append(start)
        if stop is not None:
            statement += "AND rowid<=? "
            params.append(stop)
        if topics:
            statement += f"AND topic IN ({','.join('?' * len(topics))}) "
            params.extend(topics)
        statement += "ORDER BY originator_version LIMIT ?"
        params.append(limit)
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None  # plain tuples: (rowid, version, topic, state)
            cursor.execute(statement, params)
            rows: list[RunRow] = cursor.fetchall()
            return rows

    def close(self) -> None:
        self.datastore.close()


def open_sqlite(
    path: str | Path,
    *,
    synchronous: Synchronous = "full",
    lock_timeout: int | None = None,
    url: str | None = None,
) -> LogStore:
    """Open (creating if needed) the store in SQLite file ``path``."""
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    datastore = SQLiteStoreDatastore(str(path), synchronous=synchronous, lock_timeout=lock_timeout)
    recorder = SQLiteLogRecorder(datastore)
    try:
        create_tables(recorder)
    except PersistenceError as exc:
        datastore.close()
        raise StoreError(f"cannot open SQLite store {path}: {exc}") from exc
    return LogStore(recorder, url or sqlite_url(path))


__all__ = ["SQLiteLogRecorder", "SQLiteStoreDatastore", "open_sqlite", "sqlite_url"]
