"""PostgreSQL backend: eventsourcing's PostgreSQL process recorder, inserting batches with COPY.

Tables (in ``schema``, names prefixed with ``prefix``): ``<prefix>events`` (the library's application
table: ``originator_id uuid``, ``originator_version``, ``topic``, ``state bytea``, ``notification_id``),
``<prefix>tracking`` (the library's single-row tracking table) and ``<prefix>runs`` (the run registry).

:class:`CopyPostgresLogRecorder` keeps the library's ordering guarantee: every inserting transaction
takes the same ``LOCK TABLE ... IN EXCLUSIVE MODE`` as ``PostgresApplicationRecorder`` (readers are not
blocked), so notification ids are issued in commit order. Under that lock it reads ``MAX(notification_id)``
and writes the batch's ids itself, ``max + 1 .. max + n``, with one binary ``COPY``: ids stay gap-free
even when a transaction rolls back (a sequence would skip), and the column's sequence is moved to the
new maximum in the same transaction so the library's own recorder can share the table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from eventsourcing.utils import retry
from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal
from psycopg.types.string import BytesBinaryDumper

from ..errors import StoreError
from .log import LogStore, create_tables
from .rows import EventRows, NewRun, OriginatorKey, RunRow

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


class CopyPostgresDatastore(PostgresDatastore):
    """The library's datastore; its connections dump ``bytes`` with psycopg's C binary dumper for ``bytea``.

    (psycopg maps the ``bytea`` type to a pure-Python dumper that also accepts ``psycopg.Binary``; the
    COPY below only ever sends ``bytes``, and the C dumper more than halves its client-side cost.)
    """

    def after_connect_func(self) -> Callable[[Connection[Any]], None]:
        configure = super().after_connect_func()

        def after_connect(conn: Connection[Any]) -> None:
            configure(conn)
            conn.adapters.register_dumper(bytes, BytesBinaryDumper)

        return after_connect


class CopyPostgresLogRecorder(PostgresProcessRecorder):
    """``PostgresProcessRecorder`` that inserts with binary COPY and keeps the run registry."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "basis_events",
        tracking_table_name: str = "basis_tracking",
        runs_table_name: str = "basis_runs",
    ) -> None:
        super().__init__(
            datastore, events_table_name=events_table_name, tracking_table_name=tracking_table_name
        )
        self.check_identifier_length(runs_table_name)
        self.runs_table_name = runs_table_name
        schema = Identifier(self.datastore.schema)
        events = Identifier(self.events_table_name)
        runs = Identifier(runs_table_name)
        id_type = self.datastore.originator_id_type
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{runs} ("
                "run_id text PRIMARY KEY, "
                "originator_id {id_type} NOT NULL, "
                "first_position bigint NOT NULL)"
            ).format(schema=schema, runs=runs, id_type=Identifier(id_type))
        )
        self.copy_events_statement: Composed = SQL(
            "COPY {schema}.{events} (originator_id, originator_version, topic, state, notification_id) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(schema=schema, events=events)
        # a uuid travels as its 16 bytes (what the server's binary uuid input reads), through the bytes dumper
        self.copy_types = ["bytea" if id_type == "uuid" else "text", "int8", "text", "bytea", "int8"]
        # one round trip each: the library's lock statements then the last id; the sequence and NOTIFY
        self.lock_and_select_last_id_statement: Composed = SQL(
            "SET LOCAL lock_timeout = '{timeout}s'; "
            "LOCK TABLE {schema}.{events} IN EXCLUSIVE MODE; "
            "SELECT COALESCE(MAX(notification_id), 0) AS last FROM {schema}.{events}"
        ).format(timeout=self.datastore.lock_timeout, schema=schema, events=events)
        self.qualified_events_table = f'"{self.datastore.schema}"."{self.events_table_name}"'
        self.set_sequence_and_notify_statement = SQL(
            "SELECT setval(pg_get_serial_sequence({table}, 'notification_id'), {last}); NOTIFY {channel}"
        )
        self.insert_run_statement: Composed = SQL(
            "INSERT INTO {schema}.{runs} (run_id, originator_id, first_position) VALUES (%s, %s, %s)"
        ).format(schema=schema, runs=runs)
        self.select_runs_statement: Composed = SQL(
            "SELECT run_id, originator_id, first_position FROM {schema}.{runs} ORDER BY first_position"
        ).format(schema=schema, runs=runs)
        self.select_run_statement: Composed = SQL(
            "SELECT notification_id, originator_version, topic, state FROM {schema}.{events} "
            "WHERE originator_id = %s AND originator_version > %s"
        ).format(schema=schema, events=events)

    def originator_key(self, originator_id: UUID) -> OriginatorKey:
        return originator_id if self.datastore.originator_id_type == "uuid" else originator_id.hex

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        runs: Sequence[NewRun] = kwargs.get("runs") or ()
        n = len(stored_events)
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            if tracking is not None:
                self._insert_tracking(curs, tracking)
            if n == 0:
                return []
            rows = EventRows.of(stored_events)
            curs.execute(self.lock_and_select_last_id_statement)
            while curs.nextset():
                pass
            fetched = curs.fetchone()
            assert fetched is not None
            last: int = fetched["last"]
            positions = range(last + 1, last + n + 1)
            originator_ids, versions, topics, states = rows.columns()
            with curs.copy(self.copy_events_statement) as copy:
                copy.set_types(self.copy_types)
                write_row = copy.write_row
                for row in zip(
                    self._copy_ids(originator_ids), versions, topics, states, positions, strict=True
                ):
                    write_row(row)
            if runs:
                curs.executemany(
                    self.insert_run_statement, [(r.run_id, r.key, last + 1 + r.offset) for r in runs]
                )
            curs.execute(
                self.set_sequence_and_notify_statement.format(
                    table=Literal(self.qualified_events_table),
                    last=Literal(last + n),
                    channel=Identifier(self.channel_name),
                )
            )
        return list(positions)

    def _copy_ids(self, originator_ids: Sequence[OriginatorKey]) -> Sequence[bytes | str]:
        """Originator ids as the COPY sends them: 16 bytes per UUID (text ids as they are)."""
        if self.datastore.originator_id_type != "uuid":
            return [str(i) for i in originator_ids]
        # distinct objects, found by identity (UUID hashing is Python code, too slow per row)
        distinct = dict(zip(map(id, originator_ids), originator_ids, strict=True))
        as_bytes = {key: (i if isinstance(i, UUID) else UUID(i)).bytes for key, i in distinct.items()}
        if len(as_bytes) == 1:
            return [next(iter(as_bytes.values()))] * len(originator_ids)
        return list(map(as_bytes.__getitem__, map(id, originator_ids)))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_runs(self) -> Sequence[tuple[str, OriginatorKey, int]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_runs_statement)
            return [(row["run_id"], row["originator_id"], row["first_position"]) for row in curs.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
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
        statement = self.select_run_statement
        params: list[Any] = [originator_key, after_version]
        if start is not None:
            statement += SQL(" AND notification_id >= %s")
            params.append(start)
        if stop is not None:
            statement += SQL(" AND notification_id <= %s")
            params.append(stop)
        if topics:
            statement += SQL(" AND topic = ANY(%s)")
            params.append(list(topics))
        statement += SQL(" ORDER BY originator_version LIMIT %s")
        params.append(limit)
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, params, prepare=True)
            return [(position, version, topic, bytes(state)) for position, version, topic, state in curs]

    def close(self) -> None:
        self.datastore.close()


@dataclass(frozen=True, slots=True)
class PostgresLocation:
    """Where a PostgreSQL store lives, parsed from ``postgresql://user:password@host:port/dbname?...``.

    Query parameters: ``schema`` (default ``public``; created if missing), ``prefix`` (table name prefix,
    default ``basis_``), ``pool_size`` (default 2), ``lock_timeout`` (seconds to wait for the table lock,
    0 = no limit), ``connect_timeout`` (seconds, default 5).
    """

    dbname: str = "test"
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    schema: str = "public"
    prefix: str = "basis_"
    pool_size: int = 2
    lock_timeout: int = 0
    connect_timeout: float = 5.0

    @classmethod
    def parse(cls, url: str) -> PostgresLocation:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"not a PostgreSQL URL: {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        known = {"schema", "prefix", "pool_size", "lock_timeout", "connect_timeout"}
        unknown = set(query) - known
        if unknown:
            raise ValueError(f"unknown PostgreSQL store option(s) {', '.join(sorted(unknown))} in {url!r}")
        d = cls()
        return cls(
            dbname=unquote(parts.path.lstrip("/")) or d.dbname,
            host=parts.hostname or d.host,
            port=parts.port or d.port,
            user=unquote(parts.username) if parts.username else d.user,
            password=unquote(parts.password) if parts.password else "",
            schema=query.get("schema", d.schema),
            prefix=query.get("prefix", d.prefix),
            pool_size=int(query.get("pool_size", d.pool_size)),
            lock_timeout=int(query.get("lock_timeout", d.lock_timeout)),
            connect_timeout=float(query.get("connect_timeout", d.connect_timeout)),
        )

    def datastore(self) -> CopyPostgresDatastore:
        return CopyPostgresDatastore(
            dbname=self.dbname,
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            connect_timeout=self.connect_timeout,
            pool_size=self.pool_size,
            max_overflow=4,
            pool_open_timeout=self.connect_timeout,
            lock_timeout=self.lock_timeout,
            schema=self.schema,
        )

    def redacted(self) -> str:
        user = f"{self.user}:***@" if self.password else f"{self.user}@"
        return f"postgresql://{user}{self.host}:{self.port}/{self.dbname}?schema={self.schema}&prefix={self.prefix}"


def open_postgres(url: str = DEFAULT_URL) -> LogStore:
    """Open (creating schema and tables if needed) the store described by ``url``."""
    location = PostgresLocation.parse(url)
    datastore = location.datastore()
    try:
        if location.schema != "public":
            with datastore.transaction(commit=True) as curs:
                curs.execute(SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(location.schema)))
        recorder = CopyPostgresLogRecorder(
            datastore,
            events_table_name=f"{location.prefix}events",
            tracking_table_name=f"{location.prefix}tracking",
            runs_table_name=f"{location.prefix}runs",
        )
        create_tables(recorder)
    except PersistenceError as exc:
        datastore.close()
        raise StoreError(f"cannot open PostgreSQL store {location.redacted()}: {exc}") from exc
    return LogStore(recorder, location.redacted())


__all__ = [
    "DEFAULT_URL",
    "CopyPostgresDatastore",
    "CopyPostgresLogRecorder",
    "PostgresLocation",
    "open_postgres",
]
