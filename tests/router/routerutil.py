"""The router on one in-process bus with venue doubles (:mod:`venuedoubles`) and a tape; the test plays
the strategy and the clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any, TypeVar

from venuedoubles import Answer, FakeVenue

from basis.bus.bus import Bus
from basis.bus.clock import Clock, SimClock
from basis.bus.component import Component
from basis.bus.ids import IdFactory, SequentialIds
from basis.bus.messages import (
    Action,
    ClockTicked,
    Instruction,
    Message,
    RouteCompleted,
)
from basis.bus.transport.inprocess import InProcessTransport
from basis.components.router import ExecutionRouter, RouterParams

M = TypeVar("M", bound=Message)
T0 = 1_719_792_000 * 1_000_000_000  # 2024-07-01T00:00:00Z


class Tape(Component):
    """Records every message on the bus, in delivery order."""

    name = "tape"

    def __init__(self, bus: Bus, clock: Clock, ids: IdFactory) -> None:
        super().__init__(bus, clock, ids)
        self.messages: list[Message] = []

    async def on_start(self) -> None:
        await self.bus.subscribe(">", self.on_message)

    async def on_message(self, message: Message) -> None:
        self.messages.append(message)

    def of(self, cls: type[Message]) -> list[Message]:
        return [m for m in self.messages if isinstance(m, cls)]


class Rig:
    """A router, fake venues and a tape on one in-process bus; the test plays strategy and clock."""

    def __init__(self, start_ns: int = T0) -> None:
        self.transport = InProcessTransport()
        self.clock = SimClock(start_ns)
        self.bus = Bus(self.transport, component="test")
        self.venues: dict[str, FakeVenue] = {}
        self._n = itertools.count(1)
        self.tape = Tape(Bus(self.transport, component="tape"), self.clock, SequentialIds("run", "tape"))
        self.router: ExecutionRouter | None = None

    async def start(self, params: RouterParams, **venues: Iterable[Answer]) -> Rig:
        await self.tape.start()
        self.router = ExecutionRouter(
            Bus(self.transport, component="router"), self.clock, SequentialIds("run", "router"), params
        )
        await self.router.start()
        for venue, script in venues.items():
            await self.add_venue(venue, script)
        return self

    async def add_venue(
        self, venue: str, script: Iterable[Answer] = (), arrival_delay_ns: int = 0
    ) -> FakeVenue:
        fake = FakeVenue(
            Bus(self.transport, component=venue),
            self.clock,
            SequentialIds("run", venue),
            venue=venue,
            script=script,
            arrival_delay_ns=arrival_delay_ns,
        )
        await fake.start()
        self.venues[venue] = fake
        return fake

    def make(self, cls: type[M], **fields: Any) -> M:
        fields.setdefault("ts", self.clock.now_ns())
        return cls(id=f"test.{next(self._n)}", **fields)

    def instruct(self, action: Action, venue: str = "router", **fields: Any) -> Instruction:
        """An instruction carrying ``action`` to ``venue`` (the router unless told)."""
        return self.make(Instruction, venue=venue, action=action, **fields)

    async def send(self, *messages: Message) -> None:
        for message in messages:
            await self.bus.publish(message)

    async def tick(self, seconds: float) -> None:
        self.clock.advance_to(self.clock.now_ns() + round(seconds * 1e9))
        await self.send(self.make(ClockTicked))

    def outcomes(self) -> list[RouteCompleted]:
        return [m for m in self.tape.messages if isinstance(m, RouteCompleted)]

    def children(self, venue: str | None = None) -> list[Instruction]:
        out = [m for m in self.tape.messages if isinstance(m, Instruction) and m.venue != "router"]
        return [m for m in out if venue is None or m.venue == venue]
