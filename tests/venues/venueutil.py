"""Helpers of the venue tests: a real bus over the in-process transport, a simulation clock, a recorder."""

from __future__ import annotations

import itertools
from typing import Any, TypeVar

from basis.bus.bus import Bus
from basis.bus.clock import SimClock
from basis.bus.component import Component
from basis.bus.ids import SequentialIds
from basis.bus.messages import (
    Action,
    Bar,
    ClockTicked,
    Fill,
    FundingRate,
    GasPrice,
    Instruction,
    InstructionFilled,
    InstructionRejected,
    Message,
    ReserveState,
    TransferCompleted,
)
from basis.bus.transport.base import Envelope
from basis.bus.transport.inprocess import InProcessTransport
from basis.components.position_monitor import PositionMonitor

M = TypeVar("M", bound=Message)
C = TypeVar("C", bound=Component)

T0 = 1_719_792_000 * 1_000_000_000  # 2024-07-01T00:00:00Z
HOUR = 3_600 * 1_000_000_000


class Harness:
    """Components on one in-process bus; the test plays the feed, the clock and the strategy."""

    def __init__(self) -> None:
        self.transport = InProcessTransport()
        self.clock = SimClock(T0)
        self.bus = Bus(self.transport, component="test")
        self.events: list[Message] = []
        self._n = itertools.count(1)
        self.monitor: PositionMonitor | None = None
        self.dead_letters: list[str] = []

    async def start(self, cls: type[C], **kwargs: Any) -> C:
        name = kwargs.get("name") or cls.__name__.lower()
        component = cls(Bus(self.transport, component=name), self.clock, SequentialIds("run", name), **kwargs)
        await component.start()
        return component

    async def start_recording(self) -> None:
        async def record(message: Message) -> None:
            self.events.append(message)

        async def dead_letter(envelope: Envelope) -> None:
            self.dead_letters.append(envelope.subject)

        await self.bus.subscribe("evt.>", record)
        await self.transport.subscribe("dlq.>", dead_letter)
        self.monitor = await self.start(PositionMonitor)

    def make(self, cls: type[M], **fields: Any) -> M:
        fields.setdefault("ts", self.clock.now_ns())
        return cls(id=f"test.{next(self._n)}", **fields)

    async def send(self, cls: type[M], **fields: Any) -> M:
        message = self.make(cls, **fields)
        await self.bus.publish(message)
        return message

    def instruction(self, venue: str, action: Action, **envelope: Any) -> Instruction:
        """An ``Instruction`` carrying ``action`` to ``venue`` (``route``, ``causation_id``, ... in ``envelope``)."""
        return self.make(Instruction, venue=venue, action=action, **envelope)

    async def instruct(self, venue: str, action: Action, **envelope: Any) -> Instruction:
        """Publish an ``Instruction`` carrying ``action`` to ``venue``, as a strategy or the router would."""
        instruction = self.instruction(venue, action, **envelope)
        await self.bus.publish(instruction)
        return instruction

    async def advance(self, ns: int) -> None:
        """Move the clock and publish ``ClockTicked``."""
        self.clock.advance_to(self.clock.now_ns() + ns)
        await self.send(ClockTicked)

    # --- market data -------------------------------------------------------------------------------

    async def bar(self, venue: str, symbol: str, market: str, close: float, ts: int | None = None) -> Bar:
        ts = self.clock.now_ns() if ts is None else ts
        return await self.send(
            Bar,
            ts=ts,
            venue=venue,
            symbol=symbol,
            market=market,  # type: ignore[arg-type]
            open_ts=ts - HOUR,
            interval_s=3600,
            open=close,
            high=close,
            low=close,
            close=close,
            volume=1.0,
        )

    async def funding(self, venue: str, symbol: str, rate: float, ts: int | None = None) -> FundingRate:
        return await self.send(
            FundingRate, ts=self.clock.now_ns() if ts is None else ts, venue=venue, symbol=symbol, rate=rate
        )

    async def gas(self, gwei: float) -> GasPrice:
        return await self.send(
            GasPrice, chain="ethereum", base_fee_gwei=gwei, priority_fee_gwei=0.0, price_gwei=gwei
        )

    async def reserve(
        self,
        asset: str,
        liquidity_index: float,
        borrow_index: float,
        price_usd: float,
        venue: str = "aave_v3",
    ) -> ReserveState:
        return await self.send(
            ReserveState,
            venue=venue,
            asset=asset,
            liquidity_index=liquidity_index,
            variable_borrow_index=borrow_index,
            liquidity_rate=0.0,
            variable_borrow_rate=0.0,
            price_usd=price_usd,
        )

    async def credit(self, venue: str, asset: str, amount: float) -> TransferCompleted:
        """Funds arriving at a CEX account (as the wallet's transfer would deliver them)."""
        return await self.send(
            TransferCompleted,
            instruction_id="test.deposit",
            source="wallet",
            destination=venue,
            asset=asset,
            amount=amount,
            changes=(Fill(instrument=f"{venue}:BaseToken:{asset}", delta=amount),),
        )

    # --- what came out -----------------------------------------------------------------------------

    def of(self, cls: type[M]) -> list[M]:
        return [e for e in self.events if isinstance(e, cls)]

    def answer(self, instruction: Message) -> InstructionFilled | InstructionRejected:
        """The final answer to one instruction."""
        for event in self.events:
            if (
                isinstance(event, InstructionFilled | InstructionRejected)
                and event.instruction_id == instruction.id
            ):
                return event
        raise AssertionError(f"no answer to {instruction.id}")

    def filled(self, instruction: Message) -> InstructionFilled:
        answer = self.answer(instruction)
        assert isinstance(answer, InstructionFilled), answer
        return answer

    def rejected(self, instruction: Message) -> InstructionRejected:
        answer = self.answer(instruction)
        assert isinstance(answer, InstructionRejected), answer
        return answer

    def book(self, prefix: str = "") -> dict[str, float]:
        """The position monitor's balances under ``prefix``."""
        assert self.monitor is not None
        return {k: v for k, v in self.monitor.book.snapshot().items() if k.startswith(prefix)}


def changes(fill: InstructionFilled | Any) -> list[tuple[str, float, float]]:
    return [(c.instrument, c.delta, c.price) for c in fill.changes]
