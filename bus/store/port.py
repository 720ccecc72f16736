"""The event store port: what every backend offers, whatever database is behind it.

The store is one append-only log of bus messages. Each message is kept with:

``position``
    its place in the global log: 1, 2, 3, ... with no gap, in commit order (eventsourcing's
    notification id);
``run_id`` and ``seq``
    the run it belongs to (header ``Basis-Run``) and its place within that run: 1, 2, 3, ... with no
    gap (eventsourcing's originator id, a uuid5 of the run id, and originator version);
``subject`` and ``data``
    the subject it was published on and its payload bytes exactly as they were on the wire.

An append writes a whole batch or nothing. It may carry an upstream position (the name of what it was
read from and a position there, e.g. a JetStream stream and its stream sequence), written in the same
transaction; a batch whose upstream position is not above the recorded one is refused as a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import NamedTuple, Protocol, Self, runtime_checkable

from eventsourcing.persistence import Tracking

from ..codec import decode
from ..messages import Message

Record = tuple[str, bytes]
"""``(subject, data)``: one message of a run."""

Entry = tuple[str, str, bytes]
"""``(run_id, subject, data)``: one message of any run."""


class StoredRecord(NamedTuple):
    """One message read back from the store."""

    position: int
    run_id: str
    seq: int
    subject: str
    data: bytes

    def message(self) -> Message:
        """The decoded bus message (raises :class:`~basis.bus.errors.DecodeError` for raw dead letters)."""
        return decode(self.data)


class RunInfo(NamedTuple):
    """A run known to the store: its id, the position of its first message, and how many it holds."""

    run_id: str
    first_position: int
    messages: int


@runtime_checkable
class EventStore(Protocol):
    """An append-only, gap-free log of bus messages grouped by run."""

    url: str

    def append(
        self, run_id: str, records: Sequence[Record], *, tracking: Tracking | None = None
    ) -> list[int]:
        """Append ``records`` to run ``run_id`` in one transaction; returns their global positions.

        ``tracking`` (``Tracking(upstream, position)``) is recorded in the same transaction; raises
        :class:`~basis.bus.store.errors.AlreadyRecorded` (and writes nothing) when ``position`` is not
        above the one recorded for ``upstream``. An empty ``records`` with a tracking only moves the
        upstream position.
        """
        ...

    def append_entries(self, entries: Iterable[Entry], *, tracking: Tracking | None = None) -> list[int]:
        """Like :meth:`append` for messages of several runs, kept in the given order."""
        ...

    def read(
        self,
        *,
        run_id: str | None = None,
        subject: str | None = None,
        start: int = 1,
        stop: int | None = None,
        batch: int = 1000,
    ) -> Iterator[StoredRecord]:
        """Stream messages in global order from position ``start`` up to ``stop`` (inclusive).

        ``run_id`` keeps one run; ``subject`` is a NATS pattern (``*`` one token, ``>`` the rest).
        Pages of ``batch`` rows are read one at a time: memory use does not grow with the log.
        """
        ...

    def runs(self) -> list[RunInfo]:
        """Every run in the store, in the order of their first message."""
        ...

    def run_info(self, run_id: str) -> RunInfo | None:
        """One run, or None if the store holds no message of it."""
        ...

    def last_position(self) -> int:
        """Position of the last message in the log; 0 when the log is empty."""
        ...

    def upstream_position(self, upstream: str) -> int:
        """The last position recorded for ``upstream``; 0 when none."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


__all__ = ["Entry", "EventStore", "Record", "RunInfo", "StoredRecord", "Tracking"]
