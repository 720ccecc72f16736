"""Position monitor: the book of every balance by canonical instrument key, rebuilt from venue events."""

from __future__ import annotations

from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    FlowBooked,
    InstructionFilled,
    Liquidated,
    Message,
    PositionSnapshot,
    Settled,
    TransferCompleted,
)

from .base import Component

DUST = 1e-12
BALANCE_EVENTS: tuple[type[Message], ...] = (
    InstructionFilled,
    Settled,
    Liquidated,
    TransferCompleted,
    FlowBooked,
)
"""The events that move balances: the position monitor books each and answers with a PositionSnapshot."""


class PositionBook:
    """Balances by instrument key; pure state, no I/O (the projection reuses it)."""

    __slots__ = ("positions",)

    def __init__(self) -> None:
        self.positions: dict[str, float] = {}

    def apply(self, instrument: str, delta: float) -> None:
        value = self.positions.get(instrument, 0.0) + delta
        if abs(value) <= DUST:
            self.positions.pop(instrument, None)
        else:
            self.positions[instrument] = value

    def snapshot(self) -> dict[str, float]:
        return dict(sorted(self.positions.items()))

    def apply_event(self, message: Message, prefix: str = "") -> None:
        """Book the balance changes of one event (docs/accounting.md), on keys starting with ``prefix``."""
        match message:
            case (
                InstructionFilled(changes=changes)
                | Liquidated(changes=changes)
                | TransferCompleted(changes=changes)
            ):
                for change in changes:
                    if change.instrument.startswith(prefix):
                        self.apply(change.instrument, change.delta)
            case FlowBooked(kind=kind, instrument=instrument, amount=amount) if instrument.startswith(prefix):
                self.apply(instrument, amount if kind == "deposit" else -amount)
            case Settled(instrument=instrument, amount=amount) if instrument.startswith(prefix):
                self.apply(instrument, amount)


class PositionMonitor(Component):
    """Consumes fills, settlements, transfers and liquidations; publishes a PositionSnapshot after each."""

    name = "position-monitor"

    def __init__(self, bus: Bus, clock: Clock, ids: IdFactory) -> None:
        super().__init__(bus, clock, ids)
        self.book = PositionBook()

    async def on_start(self) -> None:
        await self.bus.subscribe("evt.*.*", self.on_event, types=BALANCE_EVENTS)

    async def on_event(
        self, message: InstructionFilled | Settled | Liquidated | TransferCompleted | FlowBooked
    ) -> None:
        self.book.apply_event(message)
        await self.emit(self.make(PositionSnapshot, cause=message, positions=self.book.snapshot()))
