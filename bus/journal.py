"""The execution journal: which instruction keys a gateway has executed, and what it answered.

A gateway claims an instruction's idempotency key before it executes it and records the outcome (the
messages it published for it: accepted, filled or rejected, ...) once it has. A redelivered instruction,
or one delivered again to a gateway restarted since, finds its key claimed: the gateway answers with the
recorded outcome and executes nothing. A key claimed with no outcome recorded means the gateway stopped
while executing it; what became of it is a question for the venue (a status query by client order id),
never a second execution.

Two implementations of the :class:`ExecutionJournal` port:

* :class:`MemoryJournal` — in memory, bounded (an in-process backtest; a restart forgets it);
* :class:`~basis.bus.transport.jetstream_journal.JetStreamJournal` — a JetStream key-value bucket (file
  storage): claims are atomic creates, so two gateway processes that receive the same instruction cannot
  both execute it, and the journal survives a restart of the gateway and of the nats-server. (A module of
  its own: an in-process run never loads the NATS client.)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from .messages import Message

DEFAULT_BUCKET = "basis_executed"
MEMORY_LIMIT = 100_000
"""Keys a :class:`MemoryJournal` remembers (the oldest are forgotten first)."""


class Recorded(NamedTuple):
    """What the journal holds for a key: the outcome messages, in the order they were published (empty
    while the execution has not finished, or if it was interrupted)."""

    outcomes: tuple[Message, ...]


class ExecutionJournal(Protocol):
    async def claim(self, key: str) -> Recorded | None:
        """Claim ``key`` for execution: None when it was free (the caller executes it), else what the
        journal holds for it (the caller must not execute it)."""
        ...

    async def complete(self, key: str, outcomes: Sequence[Message]) -> None:
        """Record the outcome of the execution of a claimed ``key``."""
        ...

    async def lookup(self, key: str) -> Recorded | None:
        """What the journal holds for ``key`` (None: never claimed), claiming nothing."""
        ...


class MemoryJournal:
    """An :class:`ExecutionJournal` in memory, remembering the last ``limit`` keys."""

    __slots__ = ("_entries", "limit")

    def __init__(self, limit: int = MEMORY_LIMIT) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, tuple[Message, ...]] = OrderedDict()

    async def claim(self, key: str) -> Recorded | None:
        entries = self._entries
        found = entries.get(key)
        if found is not None:
            return Recorded(found)
        entries[key] = ()
        if len(entries) > self.limit:
            entries.popitem(last=False)
        return None

    async def complete(self, key: str, outcomes: Sequence[Message]) -> None:
        if key in self._entries:
            self._entries[key] = tuple(outcomes)

    async def lookup(self, key: str) -> Recorded | None:
        found = self._entries.get(key)
        return None if found is None else Recorded(found)

    def __len__(self) -> int:
        return len(self._entries)
