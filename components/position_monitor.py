"""Position monitor: the book of every balance by canonical instrument key, rebuilt from venue events."""

from __future__ import annotations

from basis.bus.balances import BALANCE_EVENTS, PositionBook
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.component import Component
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    FlowBooked,
    InstructionFilled,
    Liquidated,
    PositionSnapshot,
    Settled,
    TransferCompleted,
)


class PositionMonitor(Component):
    """Consumes fills, settlements, transfers and liquidations; publishes a PositionSnapshot after each."""

    name = "position-monitor"

    def __init__(self, bus: Bus, clock: Clock, ids: IdFactory) -> None:
        super().__init__(bus, clock, ids)
        self.book = PositionBook()

    async def on_start(self) -> None:
        await self.bus.subscribe("evt.*.*", self.on_event, types=BALANCE_EVENTS)

    def history(self) -> tuple[str, ...]:
        """Every balance event of the run, and its own snapshots (which say what it had answered)."""
        return ("evt.*.*",)

    async def on_event(
        self, message: InstructionFilled | Settled | Liquidated | TransferCompleted | FlowBooked
    ) -> None:
        self.book.apply_event(message)
        await self.emit(
            self.make(PositionSnapshot, cause=message, positions=self.book.snapshot(), through=message.id)
        )
