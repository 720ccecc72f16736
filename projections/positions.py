"""Positions rebuilt from a run's events: the position monitor's book, from the log alone."""

from __future__ import annotations

from functools import singledispatchmethod

from basis.bus.balances import BALANCE_EVENTS, PositionBook
from basis.bus.messages import Message


class PositionsProjection:
    """Applies every balance-moving event to a :class:`PositionBook`, in log order."""

    def __init__(self) -> None:
        self.book = PositionBook()
        self.events = 0

    @property
    def positions(self) -> dict[str, float]:
        """Every open position, keys sorted (what a PositionSnapshot carries)."""
        return self.book.snapshot()

    @singledispatchmethod
    def process_event(self, message: Message) -> None:
        """Messages that do not move balances change nothing."""

    def _balance(self, message: Message) -> None:
        self.book.apply_event(message)
        self.events += 1

    for _type in BALANCE_EVENTS:
        process_event.register(_type, _balance)
    del _type
