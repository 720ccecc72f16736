"""The event store: every bus message, in one append-only, gap-free log, grouped by run.

Built on the ``eventsourcing`` library's recorders: a run is an aggregate (originator id = uuid5 of the
run id, originator version = the message's place in the run), a message is a ``StoredEvent`` (topic =
subject, state = payload bytes) and its notification id is its global position. Backends by URL::

    store = open_store("sqlite:///runs/basis.sqlite")     # default: a SQLite file in WAL mode
    store = open_store("postgresql://postgres@127.0.0.1:5432/basis?schema=basis")
    store = open_store("memory://")

    store.append(run_id, [(subject, data), ...])           # one transaction -> global positions
    for record in store.read(run_id=run_id, subject="evt.>"):
        ...                                                # StoredRecord(position, run_id, seq, subject, data)
    digest(store, run_id)                                  # sha256 of the run, identical across backends

What the log keeps is :class:`LogRule`'s decision (``rule.py``): every fact, and the monitors' views
as checkpoints only. Hot paths use :class:`StoreWriter` (large transactions, optionally from a writer thread). Consumers of
an upstream log append with ``tracking=Tracking(upstream, position)`` and resume from
:meth:`EventStore.upstream_position`.
"""

from __future__ import annotations

from ..errors import StoreError
from .digest import digest, digest_records
from .errors import AlreadyRecorded, StoreConflict, UnknownRun
from .log import LogStore
from .port import Entry, EventStore, Record, RunInfo, StoredRecord, Tracking
from .rows import RUN_NAMESPACE, run_uuid
from .rule import DAY_NS, VIEW_SUBJECTS, LogRule, is_view, parse_interval
from .sqlite import sqlite_url
from .urls import DEFAULT_STORE_URL, open_existing_store, open_store, sqlite_path
from .writer import StoreWriter

__all__ = [
    "DAY_NS",
    "DEFAULT_STORE_URL",
    "RUN_NAMESPACE",
    "VIEW_SUBJECTS",
    "AlreadyRecorded",
    "Entry",
    "EventStore",
    "LogRule",
    "LogStore",
    "Record",
    "RunInfo",
    "StoreConflict",
    "StoreError",
    "StoreWriter",
    "StoredRecord",
    "Tracking",
    "UnknownRun",
    "digest",
    "digest_records",
    "is_view",
    "open_existing_store",
    "open_store",
    "parse_interval",
    "run_uuid",
    "sqlite_path",
    "sqlite_url",
]
