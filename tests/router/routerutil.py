"""A fake venue at the bus seam: answers ``cmd.<venue>.*`` by a script of fills and rejections.

It behaves like a gateway (one final answer per instruction, fills book ``changes``, transfers arrive
later with ``TransferCompleted``) without any accounting of its own.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock, SimClock
from basis.bus.component import Component
from basis.bus.ids import IdFactory, SequentialIds
from basis.bus.messages import (
    Action,
    ClockTicked,
    Fill,
    Instruction,
    InstructionFilled,
    InstructionRejected,
    Message,
    PerpTrade,
    RouteCompleted,
    SpotTrade,
    Supply,
    Transfer,
    TransferCompleted,
)
from basis.bus.transport.inprocess import InProcessTransport
from basis.components.router import ExecutionRouter, RouterParams

M = TypeVar("M", bound=Message)
INSTRUCTION_TYPES: tuple[type[Message], ...] = (Instruction,)
T0 = 1_719_792_000 * 1_000_000_000  # 2024-07-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str
    transient: bool = False


FILL = "fill"
Answer = str | Reject


class FakeVenue(Component):
    """Answers each instruction with the next scripted answer (then fills for ever).

    Transfers it fills arrive ``arrival_delay_ns`` later, released on ``ClockTicked``.
    """

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        venue: str,
        script: Iterable[Answer] = (),
        arrival_delay_ns: int = 0,
    ) -> None:
        super().__init__(bus, clock, ids)
        self.venue = venue
        self.name = f"fake-{venue}"
        self.script: deque[Answer] = deque(script)
        self.arrival_delay_ns = arrival_delay_ns
        self.received: list[Instruction] = []
        self._arrivals: list[tuple[int, Instruction]] = []

    async def on_start(self) -> None:
        await self.bus.subscribe(f"cmd.{self.venue}.*", self.on_instruction, types=INSTRUCTION_TYPES)
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))

    async def on_instruction(self, instruction: Instruction) -> None:
        self.received.append(instruction)
        answer = self.script.popleft() if self.script else FILL
        if isinstance(answer, Reject):
            await self.emit(
                self.make(
                    InstructionRejected,
                    cause=instruction,
                    instruction_id=instruction.id,
                    venue=self.venue,
                    reason=answer.reason,
                    transient=answer.transient,
                )
            )
            return
        await self.emit(
            self.make(
                InstructionFilled,
                cause=instruction,
                instruction_id=instruction.id,
                venue=self.venue,
                changes=changes_of(instruction),
            )
        )
        if isinstance(instruction.action, Transfer) and instruction.action.destination != "investor":
            self._arrivals.append((self.clock.now_ns() + self.arrival_delay_ns, instruction))
            await self.release(self.clock.now_ns())

    async def on_clock(self, tick: ClockTicked) -> None:
        await self.release(tick.ts)

    async def release(self, now_ns: int) -> None:
        due = [t for at, t in self._arrivals if at <= now_ns]
        self._arrivals = [(at, t) for at, t in self._arrivals if at > now_ns]
        for instruction in due:
            transfer = instruction.action
            assert isinstance(transfer, Transfer)
            await self.emit(
                self.make(
                    TransferCompleted,
                    cause=instruction,
                    instruction_id=instruction.id,
                    source=transfer.source,
                    destination=transfer.destination,
                    asset=transfer.asset,
                    amount=transfer.amount,
                    changes=(
                        Fill(
                            instrument=f"{transfer.destination}:BaseToken:{transfer.asset}",
                            delta=transfer.amount,
                        ),
                    ),
                )
            )


def changes_of(instruction: Instruction) -> tuple[Fill, ...]:
    """Plausible balance changes of a fill (fixed price 100), enough for the router's bookkeeping."""
    venue = instruction.venue
    match instruction.action:
        case PerpTrade(symbol=symbol, side=side, quantity=q):
            signed = q if side == "buy" else -q
            return (
                Fill(instrument=f"{venue}:Perp:{symbol}", delta=signed, price=100.0),
                Fill(instrument=f"{venue}:PerpNotional:{symbol}", delta=-signed * 100.0),
            )
        case SpotTrade(symbol=symbol, side=side, quantity=q):
            signed = q if side == "buy" else -q
            return (
                Fill(
                    instrument=f"{venue}:BaseToken:{symbol.removesuffix('USDT')}", delta=signed, price=100.0
                ),
                Fill(instrument=f"{venue}:BaseToken:USDT", delta=-signed * 100.0),
            )
        case Supply(asset=asset, amount=amount):
            return (
                Fill(instrument=f"wallet:BaseToken:{asset}", delta=-amount),
                Fill(instrument=f"{venue}:aToken:a{asset}", delta=amount),
            )
        case Transfer(source=source, asset=asset, amount=amount):
            return (Fill(instrument=f"{source}:BaseToken:{asset}", delta=-amount),)
    return ()


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
