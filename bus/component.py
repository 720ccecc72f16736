"""What every component shares, whatever layer it lives in (monitors, strategies, venue gateways): a bus, a
clock, an id factory, answers to ping/stop, and what a restarted process rebuilds it from (its history)."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from mypy_extensions import mypyc_attr

from . import subjects
from .bus import Bus
from .clock import Clock
from .ids import IdFactory
from .messages import Control, Heartbeat, Message

M = TypeVar("M", bound=Message)


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled: the recorder and test doubles subclass it
class Component:
    """Base of every component. Subclasses subscribe in :meth:`on_start` and publish with :meth:`emit`.

    A component keeps its own state and talks to the rest of the platform only through its bus. One that
    keeps state a restarted process must not lose names the durable subjects it is rebuilt from
    (:meth:`history`); a process restarted in paper or live mode hands it those messages of its run before
    anything new (:mod:`basis.bus.rebuild`): the ones it consumes to its handlers while :attr:`rebuilding`
    (its bus publishes nothing then), the ones it published itself to :meth:`recall`; then
    :meth:`rebuilt`.
    """

    name = "component"

    def __init__(self, bus: Bus, clock: Clock, ids: IdFactory) -> None:
        self.bus = bus
        self.clock = clock
        self.ids = ids
        self.stopped = asyncio.Event()
        self.rebuilding = False
        """True while a restarted process hands the component the history it had answered already: its
        handlers update state, and must not take a decision that would give a message a new id."""

    async def start(self) -> None:
        await self.bus.subscribe(subjects.control(self.name), self._on_control, types=(Control,))
        await self.on_start()

    async def on_start(self) -> None:
        """Subscribe to what the component consumes."""

    def history(self) -> tuple[str, ...]:
        """The subject patterns of the durable messages the component's state is made of: what it consumes
        and, when it must remember what it sent, what it publishes. Empty (the default): a restarted
        process starts it afresh."""
        return ()

    def recall(self, message: Message) -> None:
        """``message``, on one of :meth:`history`'s subjects, was published by this component before its
        process restarted: remember what it says (what was sent, what is awaited)."""

    async def rebuilt(self) -> None:
        """The component is rebuilt from its history and has caught up with it: send what it had decided to
        send and had not (its process stopped in between). Nothing by default."""

    async def close(self) -> None:
        """Release what the component holds beyond its subscriptions (tasks, connections); the process
        that runs it calls this on the way out."""

    def make(self, cls: type[M], *, cause: Message | None = None, **fields: Any) -> M:
        """A new message of ``cls`` stamped with a fresh id, the clock's time and ``cause``'s ids."""
        if cause is not None:
            fields.setdefault("causation_id", cause.id)
            fields.setdefault("correlation_id", cause.correlation_id or cause.id)
        return cls(id=self.ids.next_id(), ts=self.clock.now_ns(), **fields)

    async def emit(self, message: Message) -> None:
        pending = self.bus.send(message)  # = await self.bus.publish(message), one coroutine less
        if pending is not None:
            await pending

    async def _on_control(self, message: Control) -> None:
        if message.command == "ping":
            await self.emit(
                self.make(
                    Heartbeat,
                    cause=message,
                    component=self.name,
                    processed=self.bus.processed,
                    dead_lettered=self.bus.dead_lettered,
                )
            )
        elif message.command == "stop":
            self.stopped.set()
