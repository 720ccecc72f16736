"""A restarted component process rebuilds its component's state from the history of its run before it
handles anything new (paper and live mode; docs/deployment.md, "A process restarted in paper or live mode").

A component names its history (:meth:`~basis.bus.component.Component.history`): the durable subjects its
state is made of — what it consumes, and what it publishes itself when it must remember what it sent.
:func:`resume` starts it so:

1. every delivery of its subscriptions is held back (:meth:`~basis.bus.bus.Bus.hold`) and the component
   subscribes;
2. the messages of its run (``Basis-Run``) on those subjects are read from the JetStream streams, each
   stream up to what it held once the subscriptions were made, and put in one timeline (:func:`timeline`:
   each stream in its own order, the streams merged by the messages' time); a message the component
   published itself (``Basis-Component``) is *its own*;
3. the timeline is cut after the last message the component had answered (:func:`answered`): the cause of
   the latest message it published, or, when that cause is not in the history (a clock tick), the
   message itself;
4. up to the cut the component is *rebuilt*: each message goes to the handlers of the subscriptions it
   matches with the bus muted (nothing is published or dead-lettered), :attr:`rebuilding` set and the
   clock reading the message's time, as when the process handled it the first time; each of its own
   messages goes to :meth:`~basis.bus.component.Component.recall`, and its id to the id factory
   (``skip_past``: never given again);
5. after the cut it *catches up*: the messages it never answered (they came while it was down) go to its
   handlers live, so what they cause is published now; its own still go to ``recall``; then
   :meth:`~basis.bus.component.Component.rebuilt` sends what it had decided to send and had not when its
   process stopped;
6. the held deliveries are delivered, but those already in the history, and it goes live.

So a position monitor ends with the book it would have had, and answers the balance events it missed; a
strategy knows what it sent and still waits for; a router the children of the parents it routed. The
store is not a source: it keeps the monitors' views only as checkpoints.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from . import codec
from .bus import COMPONENT_HEADER, RUN_HEADER
from .clock import Clock
from .component import Component
from .errors import DecodeError
from .messages import Message
from .transport.base import Envelope
from .transport.jetstream import StoredMessage

log = logging.getLogger("basis.bus.rebuild")


class RebuildClock:
    """A process's clock: the live one's time, but while a message of the history is being rebuilt, that
    message's."""

    __slots__ = ("_live", "at")

    def __init__(self, live: Clock) -> None:
        self._live = live
        self.at: int | None = None

    def now_ns(self) -> int:
        at = self.at
        return self._live.now_ns() if at is None else at


class History(Protocol):
    """Where a process reads the history of its run (:meth:`~basis.bus.transport.nats.NatsTransport.read_history`)."""

    async def read_history(
        self, patterns: Iterable[str], *, header: str, value: str
    ) -> list[list[StoredMessage]]: ...


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of a component's history."""

    envelope: Envelope
    message: Message
    own: bool
    """Published by the component itself."""


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """What :func:`replay` did."""

    rebuilt: int
    """Messages up to the last one the component had answered, its own included."""
    caught_up: int
    """Messages after it: those it had not answered were handled live."""
    own: int
    """Messages it had published itself (given to ``recall``)."""
    ids: frozenset[str]
    """The ids of the history (held deliveries of one of these are not delivered again)."""


def timeline(streams: Iterable[Sequence[StoredMessage]], component: str) -> list[Entry]:
    """The messages of ``streams`` (each in stream order) in one timeline: each stream keeps its order, the
    streams are merged by the messages' time. Payloads that do not decode are left out (they were
    dead-lettered when they were published)."""
    decoded: list[list[Entry]] = []
    for stream in streams:
        entries: list[Entry] = []
        for stored in stream:
            try:
                message = codec.decode(stored.data)
            except DecodeError:
                continue
            envelope = Envelope(stored.subject, stored.data, stored.headers, "", message)
            entries.append(Entry(envelope, message, stored.headers.get(COMPONENT_HEADER) == component))
        decoded.append(entries)
    return list(heapq.merge(*decoded, key=lambda entry: entry.message.ts))


def answered(entries: Sequence[Entry]) -> int:
    """The index of the last entry the component had answered (-1: none): the largest, over its own
    messages, of the index of the message's cause when the cause is in the history, else of the message."""
    where: dict[str, int] = {}
    last = -1
    for i, entry in enumerate(entries):
        message = entry.message
        where.setdefault(message.id, i)
        if entry.own:
            last = max(last, where.get(message.causation_id, i))
    return last


async def replay(component: Component, entries: Sequence[Entry], clock: RebuildClock | None) -> Rebuilt:
    """Rebuild ``component`` from ``entries`` and catch up with what it had not answered (module doc, 3-5)."""
    cut = answered(entries) + 1
    bus = component.bus
    component.rebuilding = True
    try:
        with bus.muted():
            for entry in entries[:cut]:
                if clock is not None:
                    clock.at = entry.message.ts
                await _apply(component, entry)
    finally:
        if clock is not None:
            clock.at = None
        component.rebuilding = False
    for entry in entries[cut:]:
        await _apply(component, entry)
    await component.rebuilt()
    return Rebuilt(
        rebuilt=cut,
        caught_up=len(entries) - cut,
        own=sum(1 for entry in entries if entry.own),
        ids=frozenset(entry.message.id for entry in entries),
    )


async def _apply(component: Component, entry: Entry) -> None:
    if entry.own:
        component.ids.skip_past(entry.message.id)
        component.recall(entry.message)
    else:
        await component.bus.redeliver(entry.envelope)


async def resume(component: Component, history: History, clock: RebuildClock | None = None) -> Rebuilt | None:
    """Start ``component``; when it names a history (and its bus a run), rebuilt from the history of its run
    first (module doc). None when there was nothing to rebuild it from."""
    patterns = component.history()
    bus = component.bus
    if not patterns or not bus.run_id:
        await component.start()
        return None
    bus.hold()
    await component.start()
    streams = await history.read_history(patterns, header=RUN_HEADER, value=bus.run_id)
    entries = timeline(streams, bus.component)
    rebuilt = await replay(component, entries, clock)
    live = await bus.release(skip=rebuilt.ids)
    if entries:
        log.info(
            "%s: rebuilt from %d messages of run %s (%d its own), caught up with %d after the last it "
            "answered; %d delivered meanwhile",
            component.name,
            rebuilt.rebuilt,
            bus.run_id,
            rebuilt.own,
            rebuilt.caught_up,
            live,
        )
    return rebuilt
