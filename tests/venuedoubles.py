"""Venue doubles at the bus seam: :class:`FakeVenue` answers ``cmd.<venue>.*`` by a script of fills
(whole or in parts), rejections, silence and lost instructions.

It behaves like a gateway (one final answer per instruction, fills book ``changes``, transfers arrive
later with ``TransferCompleted``, status queries answered from what it recorded) without any
accounting of its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.component import Component
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    ClockTicked,
    Fill,
    Instruction,
    InstructionCancelled,
    InstructionFilled,
    InstructionRejected,
    InstructionStatus,
    Message,
    PerpTrade,
    QueryStatus,
    SpotTrade,
    Supply,
    TransactionReverted,
    TransactionSubmitted,
    Transfer,
    TransferCompleted,
)
from basis.components.router.actions import size_of
from basis.venues.gateway import state_of


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str
    transient: bool = False


@dataclass(frozen=True, slots=True)
class Parts:
    """Fill in ``n`` equal parts: the first at once, one more at each later clock tick. With
    ``cancel_after`` the venue cancels what is open after that many parts."""

    n: int
    cancel_after: int | None = None


@dataclass(frozen=True, slots=True)
class Revert:
    """Send the instruction's transaction, then report it mined and reverted with ``reason`` (gas spent)."""

    reason: str
    gas_eth: float = 0.001


FILL = "fill"
SILENT = "silent"
"""Never answer the instruction, nor a status query about it."""
LOST = "lost"
"""The instruction never arrived: nothing recorded, a status query says ``unknown``."""
UNPUBLISHED = "unpublished"
"""Fill, record the outcome, but never publish it: only a status query tells."""
Answer = str | Reject | Parts | Revert


class FakeVenue(Component):
    """Answers each instruction with the next scripted answer (then fills for ever), like a gateway:
    outcomes are recorded per instruction id, a ``QueryStatus`` is answered from them, an instruction id
    answered before is answered with its status instead of being executed again.

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
        self.queries: list[QueryStatus] = []
        self.outcomes: dict[str, list[Message]] = {}
        self.silent: set[str] = set()
        self._parts: list[tuple[Instruction, Parts, int]] = []
        self.stall_after: int | None = None
        """Orders filled in parts stop after this many parts (open for ever, as a resting order)."""
        self._arrivals: list[tuple[int, Instruction]] = []

    async def on_start(self) -> None:
        await self.bus.subscribe(f"cmd.{self.venue}.*", self.on_command, types=(Instruction, QueryStatus))
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))

    async def on_command(self, command: Instruction | QueryStatus) -> None:
        if isinstance(command, QueryStatus):
            await self.on_query(command)
        else:
            await self.on_instruction(command)

    async def on_query(self, query: QueryStatus) -> None:
        self.queries.append(query)
        if query.instruction_id in self.silent:
            return
        await self.emit(self.status(query, query.instruction_id))

    def status(self, cause: Message, instruction_id: str) -> InstructionStatus:
        outcomes = tuple(self.outcomes.get(instruction_id, ()))
        return self.make(
            InstructionStatus,
            cause=cause,
            instruction_id=instruction_id,
            venue=self.venue,
            state=state_of(outcomes) if instruction_id in self.outcomes else "unknown",
            outcomes=outcomes,  # type: ignore[arg-type]
        )

    async def on_instruction(self, instruction: Instruction) -> None:
        self.received.append(instruction)
        if instruction.id in self.outcomes or instruction.id in self.silent:
            if instruction.id in self.outcomes:
                await self.emit(self.status(instruction, instruction.id))
            return
        answer = self.script.popleft() if self.script else FILL
        if answer == LOST:
            return
        self.outcomes[instruction.id] = []
        if answer == SILENT:
            self.silent.add(instruction.id)
            return
        if isinstance(answer, Reject):
            await self.answer(
                instruction,
                self.make(
                    InstructionRejected,
                    cause=instruction,
                    instruction_id=instruction.id,
                    venue=self.venue,
                    reason=answer.reason,
                    transient=answer.transient,
                ),
            )
            return
        if isinstance(answer, Revert):
            tx = f"0x{len(self.received):064x}"
            await self.answer(
                instruction,
                self.make(
                    TransactionSubmitted,
                    cause=instruction,
                    instruction_id=instruction.id,
                    venue=self.venue,
                    tx_hash=tx,
                    nonce=len(self.received),
                ),
            )
            await self.answer(
                instruction,
                self.make(
                    TransactionReverted,
                    cause=instruction,
                    instruction_id=instruction.id,
                    venue=self.venue,
                    tx_hash=tx,
                    block=20_000_000,
                    reason=answer.reason,
                    changes=(Fill(instrument="wallet:BaseToken:ETH", delta=-answer.gas_eth),),
                    gas_eth=answer.gas_eth,
                ),
            )
            return
        if isinstance(answer, Parts):
            self._parts.append((instruction, answer, 0))
            await self.next_parts()
            return
        fill = self.make(
            InstructionFilled,
            cause=instruction,
            instruction_id=instruction.id,
            venue=self.venue,
            changes=changes_of(instruction),
        )
        await self.answer(instruction, fill, publish=answer != UNPUBLISHED)
        if isinstance(instruction.action, Transfer) and instruction.action.destination != "investor":
            self._arrivals.append((self.clock.now_ns() + self.arrival_delay_ns, instruction))
            await self.release(self.clock.now_ns())

    async def answer(self, instruction: Instruction, message: Message, *, publish: bool = True) -> None:
        self.outcomes[instruction.id].append(message)
        if publish:
            await self.emit(message)

    async def next_parts(self) -> None:
        """One more part of every order being filled in parts."""
        pending, self._parts = self._parts, []
        for instruction, parts, done in pending:
            if self.stall_after is not None and done >= self.stall_after:
                self._parts.append((instruction, parts, done))
                continue
            size = size_of(instruction)
            assert size is not None
            part = size / parts.n
            if parts.cancel_after is not None and done == parts.cancel_after:
                cancelled = self.make(
                    InstructionCancelled,
                    cause=instruction,
                    instruction_id=instruction.id,
                    venue=self.venue,
                    reason="cancelled by the venue",
                    filled=part * done,
                )
                await self.answer(instruction, cancelled)
                continue
            done += 1
            fill = self.make(
                InstructionFilled,
                cause=instruction,
                instruction_id=instruction.id,
                venue=self.venue,
                changes=tuple(
                    Fill(instrument=c.instrument, delta=c.delta / parts.n, price=c.price)
                    for c in changes_of(instruction)
                ),
                remaining=0.0 if done == parts.n else size - part * done,
            )
            await self.answer(instruction, fill)
            if done < parts.n:
                self._parts.append((instruction, parts, done))

    async def on_clock(self, tick: ClockTicked) -> None:
        await self.next_parts()
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
