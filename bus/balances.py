"""Balances by canonical instrument key, booked from the events that move them (docs/accounting.md).

Shared by every layer that keeps a view of balances: the position monitor, the projections, and each
simulated venue's own ledger, so all of them book an event by the same rules.
"""

from __future__ import annotations

from .messages import (
    FlowBooked,
    InstructionFilled,
    Liquidated,
    Message,
    Settled,
    TransactionReverted,
    TransferCompleted,
)

DUST = 1e-12
BALANCE_EVENTS: tuple[type[Message], ...] = (
    InstructionFilled,
    Settled,
    Liquidated,
    TransferCompleted,
    FlowBooked,
    TransactionReverted,
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
                | TransactionReverted(changes=changes)
            ):
                for change in changes:
                    if change.instrument.startswith(prefix):
                        self.apply(change.instrument, change.delta)
            case FlowBooked(kind=kind, instrument=instrument, amount=amount) if instrument.startswith(prefix):
                self.apply(instrument, amount if kind == "deposit" else -amount)
            case Settled(instrument=instrument, amount=amount) if instrument.startswith(prefix):
                self.apply(instrument, amount)
