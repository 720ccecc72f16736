"""Balances by canonical instrument key, rebuilt from the same events the monitors apply."""

from __future__ import annotations

import math

from basis.bus.balances import PositionBook
from basis.bus.messages import Fill

from ..errors import InsufficientBalance, InvalidQuantity

EPS = 1e-9
"""Relative tolerance of balance checks (float dust)."""


def positive(value: float, what: str = "quantity") -> float:
    """``value`` if it is finite and > 0, else :class:`InvalidQuantity`."""
    if not (math.isfinite(value) and value > 0.0):
        raise InvalidQuantity(f"{what} must be finite and > 0, got {value!r}")
    return value


def covers(balance: float, amount: float) -> bool:
    """True when ``balance`` covers ``amount`` up to float dust."""
    return balance >= amount - EPS * max(1.0, abs(amount))


class Balances(PositionBook):
    """A venue's own view of balances, booked by the position monitor's rules (:class:`PositionBook`)."""

    __slots__ = ()

    def copy(self) -> Balances:
        """An independent copy (a bundle checks its steps against one)."""
        out = Balances()
        out.positions = dict(self.positions)
        return out

    def get(self, instrument: str) -> float:
        return self.positions.get(instrument, 0.0)

    def apply_changes(self, changes: tuple[Fill, ...], prefix: str = "") -> None:
        for change in changes:
            if change.instrument.startswith(prefix):
                self.apply(change.instrument, change.delta)

    def require(self, instrument: str, amount: float) -> None:
        """Raise :class:`InsufficientBalance` unless the balance covers ``amount``."""
        have = self.get(instrument)
        if not covers(have, amount):
            raise InsufficientBalance(f"{instrument}: need {amount:g}, have {have:g}")
