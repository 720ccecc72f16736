"""The event store over an eventsourcing recorder: run sequences, run registry, filtered streaming reads.

:class:`LogStore` implements :class:`~basis.bus.store.port.EventStore` on any :class:`LogRecorder`: an
eventsourcing ``ProcessRecorder`` (``insert_events`` with ``tracking=``, ``select_notifications``,
``select_events``, ``max_notification_id``, ``max_tracking_id``) that also keeps the run registry.

Run registry
    One row per run, ``(run_id, originator id, first position)``, written by the recorder in the same
    transaction as the run's first message (``insert_events(..., runs=[NewRun(...)])``). It is how
    a run id is found again from the originator id (a uuid5 cannot be reversed) and how runs are listed.
    A run's message count is its last ``originator_version``, read through the primary-key index.

Run sequences
    The store numbers each run's messages 1, 2, 3, ... It remembers the last number of each run it
    wrote to and asks the recorder (``select_events(desc=True, limit=1)``) for runs it has not seen.
    Two writers appending to the same run at once cannot both succeed: the loser gets
    :class:`~basis.bus.store.errors.StoreConflict` (primary key ``(originator_id, originator_version)``)
    and nothing of its batch is written; the store then forgets what it remembered about those runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from eventsourcing.domain import EventSourcingError
from eventsourcing.persistence import (
    IntegrityError,
    Notification,
    OperationalError,
    StoredEvent,
    Tracking,
)

from ..errors import StoreError
from ..subjects import tokens_match, validate_pattern
from .errors import AlreadyRecorded, StoreConflict
from .port import Entry, Record, RunInfo, StoredRecord
from .rows import EventRows, NewRun, OriginatorKey, RunRow, run_uuid

_first = itemgetter(0)
_second = itemgetter(1)


class LogRecorder(Protocol):
    """An eventsourcing ProcessRecorder that also keeps the run registry."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Insert events (and ``tracking``, and the ``runs`` registry rows) in one transaction."""
        ...

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]: ...

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]: ...

    def max_notification_id(self) -> int | None: ...

    def max_tracking_id(self, application_name: str) -> int | None: ...

    def originator_key(self, originator_id: UUID) -> OriginatorKey:
        """How this recorder writes and reads back ``originator_id``."""
        ...

    def select_runs(self) -> Sequence[tuple[str, OriginatorKey, int]]:
        """The run registry: ``(run_id, originator key, first position)`` by first position."""
        ...

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
        """One run's messages with versions above ``after_version``, by version, via its index, as plain
        tuples (no object per row: reading a run back is as fast as the driver)."""
        ...

    def close(self) -> None: ...


def create_tables(recorder: Any, attempts: int = 5) -> None:
    """``recorder.create_table()``, again if another process was creating the same tables at that moment.

    The library detects an existing tracking table before creating it and then records a migration
    marker; two processes opening a new database together can both try to record it.
    """
    for attempt in range(attempts):
        try:
            recorder.create_table()
            return
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            recorder.tracking_table_exists = False
            recorder.tracking_migration_previous = recorder.tracking_migration_current = None
            time.sleep(0.05 * (attempt + 1))


class _SubjectFilter:
    """A NATS pattern test with a per-subject memo (a log holds few distinct subjects)."""

    __slots__ = ("_seen", "_tokens")

    _LIMIT = 100_000

    def __init__(self, tokens: list[str]) -> None:
        self._tokens = tokens
        self._seen: dict[str, bool] = {}

    def __call__(self, subject: str) -> bool:
        hit = self._seen.get(subject)
        if hit is None:
            if len(self._seen) >= self._LIMIT:
                self._seen.clear()
            hit = self._seen[subject] = tokens_match(self._tokens, subject.split("."))
        return hit


class LogStore:
    """:class:`~basis.bus.store.port.EventStore` over a :class:`LogRecorder`; safe to share between threads."""

    def __init__(self, recorder: LogRecorder, url: str) -> None:
        self.recorder = recorder
        self.url = url
        self._lock = threading.Lock()
        self._last_seq: dict[str, int] = {}
        self._keys: dict[str, OriginatorKey] = {}
        self._names: dict[OriginatorKey, str] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # --- writing -------------------------------------------------------------------------------

    def append(
        self, run_id: str, records: Sequence[Record], *, tracking: Tracking | None = None
    ) -> list[int]:
        if not isinstance(records, (list, tuple)):
            records = list(records)
        n = len(records)
        # columns without a Python object per record (no garbage-collector work on the hot path)
        topics: list[str] = list(map(_first, records))
        states: list[bytes] = list(map(_second, records))
        with self._lock:
            self._check_open()
            key = self._key(run_id)
            last = self._last(run_id)
            rows = EventRows([key] * n, range(last + 1, last + n + 1), topics, states)
            new = [NewRun(run_id, key, 0)] if n and last == 0 else []
            positions = self._insert(rows, tracking, new, (run_id,))
            if n:
                self._last_seq[run_id] = last + n
            if new:
                self._names[key] = run_id
        return positions

    def append_entries(self, entries: Iterable[Entry], *, tracking: Tracking | None = None) -> list[int]:
        keys: list[OriginatorKey] = []
        versions: list[int] = []
        topics: list[str] = []
        states: list[bytes] = []
        with self._lock:
            self._check_open()
            seqs: dict[str, int] = {}
            new: list[NewRun] = []
            for index, (run_id, subject, data) in enumerate(entries):
                seq = seqs.get(run_id)
                if seq is None:
                    seq = self._last(run_id)
                    if seq == 0:
                        new.append(NewRun(run_id, self._key(run_id), index))
                seq += 1
                seqs[run_id] = seq
                keys.append(self._key(run_id))
                versions.append(seq)
                topics.append(subject)
                states.append(data)
            positions = self._insert(EventRows(keys, versions, topics, states), tracking, new, tuple(seqs))
            self._last_seq.update(seqs)
            for run in new:
                self._names[run.key] = run.run_id
        return positions

    def _insert(
        self, rows: EventRows, tracking: Tracking | None, new: list[NewRun], runs: Sequence[str]
    ) -> list[int]:
        try:
            positions = self.recorder.insert_events(rows, tracking=tracking, runs=new)
        except IntegrityError as exc:
            self._forget(runs)
            if tracking is not None:
                recorded = self.upstream_position(tracking.application_name)
                if recorded >= tracking.notification_id:
                    raise AlreadyRecorded(
                        tracking.application_name, tracking.notification_id, recorded
                    ) from exc
            raise StoreConflict(
                f"append to run(s) {', '.join(map(repr, runs))} rejected, another writer appended first: {exc}"
            ) from exc
        except EventSourcingError as exc:
            self._forget(runs)
            raise StoreError(f"append to {self.url} failed: {exc}") from exc
        return list(positions or ())

    def _forget(self, runs: Iterable[str]) -> None:
        for run_id in runs:
            self._last_seq.pop(run_id, None)

    def _key(self, run_id: str) -> OriginatorKey:
        key = self._keys.get(run_id)
        if key is None:
            key = self._keys[run_id] = self.recorder.originator_key(run_uuid(run_id))
        return key

    def _last(self, run_id: str) -> int:
        seq = self._last_seq.get(run_id)
        if seq is None:
            seq = self._last_seq[run_id] = self._count(self._key(run_id))
        return seq

    def _count(self, key: OriginatorKey) -> int:
        try:
            last = self.recorder.select_events(key, desc=True, limit=1)
        except EventSourcingError as exc:
            raise StoreError(f"reading {self.url} failed: {exc}") from exc
        return last[0].originator_version if last else 0

    # --- reading -------------------------------------------------------------------------------

    def read(
        self,
        *,
        run_id: str | None = None,
        subject: str | None = None,
        start: int = 1,
        stop: int | None = None,
        batch: int = 1000,
    ) -> Iterator[StoredRecord]:
        if batch < 1:
            raise ValueError(f"batch must be positive, not {batch}")
        self._check_open()
        topics: tuple[str, ...] = ()
        match: Callable[[str], bool] | None = None
        if subject is not None:
            tokens = validate_pattern(subject)
            if "*" in tokens or ">" in tokens:
                match = _SubjectFilter(tokens)
            else:
                topics = (subject,)
        start = max(start, 1)
        if run_id is not None:
            return self._read_run(run_id, topics, match, start, stop, batch)
        return self._read_all(topics, match, start, stop, batch)

    def _read_all(
        self,
        topics: tuple[str, ...],
        match: Callable[[str], bool] | None,
        start: int,
        stop: int | None,
        batch: int,
    ) -> Iterator[StoredRecord]:
        names = self._names
        select = self.recorder.select_notifications
        while True:
            try:
                page = select(start, batch, stop, topics)
            except EventSourcingError as exc:
                raise StoreError(f"reading {self.url} failed: {exc}") from exc
            for n in page:
                if match is None or match(n.topic):
                    run_id = names.get(n.originator_id) or self._name_of(n.originator_id)
                    yield StoredRecord(n.id, run_id, n.originator_version, n.topic, n.state)
            if len(page) < batch:
                return
            start = page[-1].id + 1

    def _read_run(
        self,
        run_id: str,
        topics: tuple[str, ...],
        match: Callable[[str], bool] | None,
        start: int,
        stop: int | None,
        batch: int,
    ) -> Iterator[StoredRecord]:
        key = self._key(run_id)
        after = 0
        select = self.recorder.select_run_rows
        while True:
            try:
                page = select(key, after_version=after, limit=batch, start=start, stop=stop, topics=topics)
            except EventSourcingError as exc:
                raise StoreError(f"reading {self.url} failed: {exc}") from exc
            for position, version, topic, state in page:
                if match is None or match(topic):
                    yield StoredRecord(position, run_id, version, topic, state)
            if len(page) < batch:
                return
            after = page[-1][1]

    def _name_of(self, key: OriginatorKey) -> str:
        """Run id of an originator id met while reading (refreshing the registry once)."""
        for run_id, run_key, _ in self._select_runs():
            self._names[run_key] = run_id
        name = self._names.get(key)
        if name is None:
            # Written by something that bypassed the registry: name the run by its originator id.
            name = self._names[key] = str(key)
        return name

    def _select_runs(self) -> Sequence[tuple[str, OriginatorKey, int]]:
        try:
            return self.recorder.select_runs()
        except EventSourcingError as exc:
            raise StoreError(f"reading {self.url} failed: {exc}") from exc

    def runs(self) -> list[RunInfo]:
        self._check_open()
        out = []
        for run_id, key, first in self._select_runs():
            self._names[key] = run_id
            out.append(RunInfo(run_id, first, self._count(key)))
        return out

    def run_info(self, run_id: str) -> RunInfo | None:
        self._check_open()
        for name, key, first in self._select_runs():
            if name == run_id:
                return RunInfo(run_id, first, self._count(key))
        return None

    def last_position(self) -> int:
        self._check_open()
        try:
            return self.recorder.max_notification_id() or 0
        except EventSourcingError as exc:
            raise StoreError(f"reading {self.url} failed: {exc}") from exc

    def upstream_position(self, upstream: str) -> int:
        self._check_open()
        try:
            return self.recorder.max_tracking_id(upstream) or 0
        except EventSourcingError as exc:
            raise StoreError(f"reading {self.url} failed: {exc}") from exc

    # --- lifecycle -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.url} is closed")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.recorder.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
