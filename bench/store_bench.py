"""Event store throughput: our store beside the eventsourcing recorders and the raw database drivers.

    .venv/bin/python bench/store_bench.py [--rows 150000] [--reps 3] [--batch 10000] [--postgres URL]

For SQLite and PostgreSQL it measures, on fresh tables of the same shape (eventsourcing's events table,
primary key ``(originator_id, originator_version)``, plus the unique notification id index on PostgreSQL):

``raw``             the driver alone: sqlite3 ``executemany`` / psycopg binary ``COPY``, rows prebuilt,
                    one transaction per ``--batch`` rows: the reference;
``eventsourcing``   the library's stock ``ProcessRecorder.insert_events``, prebuilt ``StoredEvent`` lists of
                    1,000 (its batched rate; measured once);
``store.append``    ``EventStore.append`` with batches of 1,000 ``(subject, payload)`` records;
``writer/inline``   ``StoreWriter`` committing every ``--batch`` messages in the caller's thread;
``writer/thread``   the same with the writer thread (the default);
``read/run``, ``read/all``  streaming everything back with ``read(run_id=...)`` and ``read()``.

Ours is timed from the first ``append`` to the end of ``close()``, building rows included. Payloads are
encoded bus messages (OraclePrice, ~190 bytes) prepared before timing. Database timings are noisy (disk
flushes, PostgreSQL checkpoints), so each measurement is repeated ``--reps`` times, in alternating order,
on fresh tables (with a best-effort ``CHECKPOINT`` before each PostgreSQL one), and the table shows the
best of each. Every measurement is printed as a JSON line; then the table and the ratios
``writer/thread ÷ eventsourcing`` (target ≥ 0.8 on both backends; stretch ≥ 2 on PostgreSQL, where our
recorder uses COPY) and ``writer/thread ÷ raw driver`` (for reference). PostgreSQL is skipped, saying
why, when it cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteProcessRecorder
from psycopg import sql

from basis.bus import subjects
from basis.bus.codec import encode
from basis.bus.ids import SequentialIds
from basis.bus.messages import OraclePrice
from basis.bus.store import StoreWriter, open_store, run_uuid, sqlite_url
from basis.bus.store.log import LogStore
from basis.bus.store.postgres import DEFAULT_URL, PostgresLocation

Record = tuple[str, bytes]
Rates = dict[str, float]
Measure = Callable[[int], Rates]

WRITES = ("raw", "store.append", "writer/inline", "writer/thread")


def emit(backend: str, what: str, rows: int, seconds: float, **extra: object) -> float:
    rate = rows / seconds if seconds > 0 else float("inf")
    line = {
        "backend": backend,
        "what": what,
        "rows": rows,
        "seconds": round(seconds, 4),
        "rate": round(rate),
        **extra,
    }
    print(json.dumps(line), flush=True)
    return rate


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def messages(n: int) -> list[Record]:
    ids = SequentialIds("bench", "feed")
    out = []
    for i in range(n):
        m = OraclePrice(
            id=ids.next_id(),
            ts=1_700_000_000_000_000_000 + i * 1_000_000,
            venue="aave_v3",
            asset=("WETH", "USDT", "WBTC", "USDC")[i % 4],
            quote="USD",
            price=3000.0 + i * 0.01,
        )
        out.append((subjects.subject_of(m), encode(m)))
    return out


def stored_events(records: list[Record], originator_id: uuid.UUID | str) -> list[list[StoredEvent]]:
    return [
        [StoredEvent(originator_id, v + 1, s, d) for v, (s, d) in enumerate(records[a:b], a)]
        for a, b in chunks(len(records), 1000)
    ]


def repeat(measures: dict[str, Measure], reps: int, before: Callable[[], None] = lambda: None) -> Rates:
    """Run every measure ``reps`` times, in alternating order; the best rate of each."""
    best: Rates = {}
    for rep in range(reps):
        names = list(measures) if rep % 2 == 0 else list(reversed(measures))
        for name in names:
            before()
            for what, rate in measures[name](rep).items():
                best[what] = max(best.get(what, 0.0), rate)
    return best


# --- ours ----------------------------------------------------------------------------------------


def our_measures(
    backend: str, open_fresh: Callable[[], LogStore], records: list[Record], batch: int
) -> dict[str, Measure]:
    n = len(records)

    def append_1000(rep: int) -> Rates:
        with open_fresh() as store:

            def run() -> None:
                for a, b in chunks(n, 1000):
                    store.append("bench", records[a:b])

            return {"store.append": emit(backend, "store.append", n, timed(run), batch=1000, rep=rep)}

    def writer(background: bool) -> Measure:
        mode = "thread" if background else "inline"

        def measure(rep: int) -> Rates:
            with open_fresh() as store:

                def write() -> None:
                    with StoreWriter(store, "bench", batch_size=batch, background=background) as log:
                        append = log.append
                        for subject, data in records:
                            append(subject, data)

                rates = {
                    f"writer/{mode}": emit(backend, f"writer/{mode}", n, timed(write), batch=batch, rep=rep)
                }
                if background:
                    for what, run_id in (("read/run", "bench"), ("read/all", None)):
                        t0 = time.perf_counter()
                        got = sum(1 for _ in store.read(run_id=run_id, batch=5000))
                        rates[what] = emit(backend, what, n, time.perf_counter() - t0, rep=rep)
                        assert got == n, (what, got, n)
                return rates

        return measure

    return {"store.append": append_1000, "writer/inline": writer(False), "writer/thread": writer(True)}


# --- SQLite --------------------------------------------------------------------------------------


def bench_sqlite(records: list[Record], batch: int, synchronous: str, workdir: Path, reps: int) -> Rates:
    n = len(records)
    numbers = count()

    def fresh_path() -> Path:
        return workdir / f"bench-{next(numbers)}.sqlite"

    # eventsourcing's stock recorder, batches of 1,000 (once: context, not the reference)
    datastore = SQLiteDatastore(str(fresh_path()))
    with datastore.get_connection(commit=False) as c:
        c.cursor().execute(f"PRAGMA synchronous={synchronous}")
    stock = SQLiteProcessRecorder(datastore)
    stock.create_table()
    batches = stored_events(records, run_uuid("bench"))

    def library() -> None:
        for events in batches:
            stock.insert_events(events)

    library_rate = emit("sqlite", "eventsourcing insert_events", n, timed(library), batch=1000)
    datastore.close()

    key = run_uuid("bench").hex
    rows = [(key, i + 1, s, d) for i, (s, d) in enumerate(records)]

    def raw(rep: int) -> Rates:
        conn = sqlite3.connect(fresh_path(), isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute(
                "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
                "state BLOB, PRIMARY KEY (originator_id, originator_version))"
            )

            def run() -> None:
                for a, b in chunks(n, batch):
                    conn.execute("BEGIN")
                    conn.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", rows[a:b])
                    conn.execute("COMMIT")

            return {"raw": emit("sqlite", "raw executemany", n, timed(run), batch=batch, rep=rep)}
        finally:
            conn.close()

    def open_fresh() -> LogStore:
        return open_store(f"{sqlite_url(fresh_path())}?synchronous={synchronous}")

    best = repeat({"raw": raw, **our_measures("sqlite", open_fresh, records, batch)}, reps)
    best["eventsourcing"] = library_rate
    return best


# --- PostgreSQL ----------------------------------------------------------------------------------


@contextmanager
def postgres_schema(url: str) -> Iterator[tuple[PostgresLocation, psycopg.Connection[tuple[object, ...]]]]:
    location = PostgresLocation.parse(url)
    conn = psycopg.connect(
        host=location.host,
        port=location.port,
        user=location.user,
        password=location.password or None,
        dbname=location.dbname,
        connect_timeout=3,
        autocommit=True,
    )
    schema = f"basis_bench_{os.getpid()}"
    conn.execute(
        sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}").format(sql.Identifier(schema))
    )
    try:
        yield PostgresLocation.parse(f"{url.split('?')[0]}?schema={schema}"), conn
    finally:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(sql.Identifier(schema)))
        conn.close()


def bench_postgres(records: list[Record], batch: int, url: str, reps: int) -> Rates:
    n = len(records)
    with postgres_schema(url) as (location, conn):
        schema = sql.Identifier(location.schema)
        oid = run_uuid("bench")

        def checkpoint() -> None:
            try:
                conn.execute("CHECKPOINT")
            except psycopg.Error:
                pass  # not allowed for this user: measure without

        datastore = PostgresDatastore(
            location.dbname,
            location.host,
            location.port,
            location.user,
            location.password,
            schema=location.schema,
        )
        stock = PostgresProcessRecorder(
            datastore, events_table_name="stock_events", tracking_table_name="stock_tracking"
        )
        stock.create_table()
        batches = stored_events(records, oid)

        def library() -> None:
            for events in batches:
                stock.insert_events(events)

        checkpoint()
        library_rate = emit("postgres", "eventsourcing insert_events", n, timed(library), batch=1000)
        datastore.close()

        rows = [(oid, i + 1, s, d) for i, (s, d) in enumerate(records)]
        tables = count()

        def raw(rep: int) -> Rates:
            table = sql.Identifier(f"raw_events_{next(tables)}")
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {0}.{1} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
                    "topic text, state bytea, notification_id bigserial, "
                    "PRIMARY KEY (originator_id, originator_version));"
                    "CREATE UNIQUE INDEX ON {0}.{1} (notification_id)"
                ).format(schema, table)
            )
            copy_sql = sql.SQL(
                "COPY {0}.{1} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
            ).format(schema, table)

            def run() -> None:
                for a, b in chunks(n, batch):
                    with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
                        copy.set_types(["uuid", "int8", "text", "bytea"])
                        for row in rows[a:b]:
                            copy.write_row(row)

            return {"raw": emit("postgres", "raw COPY", n, timed(run), batch=batch, rep=rep)}

        base = f"{url.split('?')[0]}?schema={location.schema}"
        prefixes = count()

        def open_fresh() -> LogStore:
            return open_store(f"{base}&prefix=b{next(prefixes)}_")

        best = repeat({"raw": raw, **our_measures("postgres", open_fresh, records, batch)}, reps, checkpoint)
        best["eventsourcing"] = library_rate
        return best


# --- report --------------------------------------------------------------------------------------


def report(all_rates: dict[str, Rates]) -> None:
    order = ["raw", "eventsourcing", "store.append", "writer/inline", "writer/thread", "read/run", "read/all"]
    backends = list(all_rates)
    print()
    print(f"{'msgs/s (best)':<16}" + "".join(f"{b:>14}" for b in backends))
    for what in order:
        cells = [all_rates[b].get(what) for b in backends]
        print(f"{what:<16}" + "".join(f"{c:>14,.0f}" if c else f"{'-':>14}" for c in cells))
    print()
    for b in backends:
        r = all_rates[b]
        versus_recorder = r["writer/thread"] / r["eventsourcing"]
        line = {
            "backend": b,
            "what": "writer/thread / eventsourcing recorder",
            "ratio": round(versus_recorder, 3),
            "target": 0.8,
            "ok": versus_recorder >= 0.8,
        }
        if b == "postgres":
            line |= {"stretch": 2.0, "stretch_ok": versus_recorder >= 2.0}
        print(json.dumps(line))
        print(
            json.dumps(
                {
                    "backend": b,
                    "what": "writer/thread / raw driver",
                    "ratio": round(r["writer/thread"] / r["raw"], 3),
                }
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=150_000, help="messages per measurement")
    parser.add_argument("--reps", type=int, default=3, help="repetitions; the table shows the best of them")
    parser.add_argument(
        "--batch", type=int, default=10_000, help="rows per transaction for raw and StoreWriter"
    )
    parser.add_argument(
        "--synchronous", default="full", choices=["off", "normal", "full"], help="SQLite PRAGMA synchronous"
    )
    parser.add_argument("--postgres", default=os.environ.get("BASIS_TEST_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    records = messages(args.rows)
    size = sum(len(d) for _, d in records) / len(records)
    setup = {"rows": args.rows, "batch": args.batch, "reps": args.reps, "payload_bytes": round(size)}
    print(json.dumps({"what": "setup", **setup, "sqlite_synchronous": args.synchronous}))
    all_rates: dict[str, Rates] = {}
    with tempfile.TemporaryDirectory(prefix="basis-store-bench-") as workdir:
        all_rates["sqlite"] = bench_sqlite(records, args.batch, args.synchronous, Path(workdir), args.reps)
    if not args.skip_postgres:
        try:
            all_rates["postgres"] = bench_postgres(records, args.batch, args.postgres, args.reps)
        except psycopg.OperationalError as exc:
            print(json.dumps({"backend": "postgres", "skipped": f"unreachable: {exc}".strip()}))
    report(all_rates)
    print(json.dumps({"what": "total", "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
