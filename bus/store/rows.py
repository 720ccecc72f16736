"""Batches of eventsourcing ``StoredEvent`` objects held as columns, and the run -> originator id map.

A run's messages are one eventsourcing "aggregate": ``originator_id`` is :func:`run_uuid` of the run id,
``originator_version`` the message's place in the run, ``topic`` its subject and ``state`` its payload.

:class:`EventRows` is a ``Sequence[StoredEvent]`` (any eventsourcing recorder accepts it: indexing or
iterating it yields ``StoredEvent`` objects) that keeps its four fields as columns, so the store's own
recorders can hand them to the database driver without building one Python object per message.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, overload
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import StoredEvent

RUN_NAMESPACE: UUID = uuid5(NAMESPACE_URL, "basis:run")
"""Namespace of run originator ids: ``originator_id = uuid5(RUN_NAMESPACE, run_id)``."""

OriginatorKey = UUID | str
"""How a recorder holds an originator id: a UUID, or its 32-digit hex form (SQLite)."""

RunRow = tuple[int, int, str, bytes]
"""One stored message of a run as a recorder reads it back: ``(position, version, topic, state)``."""


def run_uuid(run_id: str) -> UUID:
    """The originator id of a run (uuid5 in :data:`RUN_NAMESPACE`)."""
    return uuid5(RUN_NAMESPACE, run_id)


class EventRows(Sequence[StoredEvent]):
    """``StoredEvent`` objects kept as four equally long columns."""

    __slots__ = ("originator_ids", "states", "topics", "versions")

    def __init__(
        self,
        originator_ids: Sequence[OriginatorKey],
        versions: Sequence[int],
        topics: Sequence[str],
        states: Sequence[bytes],
    ) -> None:
        self.originator_ids = originator_ids
        self.versions = versions
        self.topics = topics
        self.states = states

    def __len__(self) -> int:
        return len(self.versions)

    @overload
    def __getitem__(self, index: int) -> StoredEvent: ...

    @overload
    def __getitem__(self, index: slice) -> EventRows: ...

    def __getitem__(self, index: int | slice) -> StoredEvent | EventRows:
        if isinstance(index, slice):
            return EventRows(
                self.originator_ids[index], self.versions[index], self.topics[index], self.states[index]
            )
        return StoredEvent(
            originator_id=self.originator_ids[index],
            originator_version=self.versions[index],
            topic=self.topics[index],
            state=self.states[index],
        )

    def __iter__(self) -> Iterator[StoredEvent]:
        return map(StoredEvent, self.originator_ids, self.versions, self.topics, self.states)

    def columns(self) -> tuple[Sequence[OriginatorKey], Sequence[int], Sequence[str], Sequence[bytes]]:
        return self.originator_ids, self.versions, self.topics, self.states

    @classmethod
    def of(cls, stored_events: Sequence[StoredEvent]) -> EventRows:
        """Columns of any sequence of stored events (itself when it already is one)."""
        if isinstance(stored_events, EventRows):
            return stored_events
        return cls(
            [s.originator_id for s in stored_events],
            [s.originator_version for s in stored_events],
            [s.topic for s in stored_events],
            [s.state for s in stored_events],
        )


class NewRun(NamedTuple):
    """A run whose first message is in the batch: its id, originator key and offset in the batch."""

    run_id: str
    key: OriginatorKey
    offset: int
