"""Balances by canonical instrument key, rebuilt from the same events the monitors apply."""

from __future__ import annotations

import math

from basis.bus.messages import (
    Fill,
    FlowBooked,
    InstructionFilled,
    Liquidated,
    Message,
    Settled,
    TransferCompleted,
)

from ..errors import InsufficientBalance, InvalidQuantity

EPS = 1e-9
"""Relative tolerance of balance checks (float dust)."""

DUST = 1e-12


def positive(value: float, what: str = "quantity") -> float:
    """``value`` if it is finite and > 0, else :class:`InvalidQuantity`."""
    if not (math.isfinite(value) and value > 0.0):
        raise InvalidQuantity(f"{what} must be finite and > 0, got {value!r}")
    return value


def covers(balance: float, amount: float) -> bool:
    """True when ``balance`` covers ``amount`` up to float dust."""
    return balance >= amount - EPS * max(1.0, abs(amount))


class Balances:
    """Signed quantities by instrument key; entries within dust of zero are dropped."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[str, float] = {}

    def get(self, instrument: str) -> float:
        return self._values.get(instrument, 0.0)

    def apply(self, instrument: str, delta: float) -> None:
        value = self._values.get(instrument, 0.0) + delta
        if abs(value) <= DUST:
            self._values.pop(instrument, None)
        else:
            self._values[instrument] = value

    def apply_changes(self, changes: tuple[Fill, ...], prefix: str = "") -> None:
        for change in changes:
            if change.instrument.startswith(prefix):
                self.apply(change.instrument, change.delta)

    def require(self, instrument: str, amount: float) -> None:
        """Raise :class:`InsufficientBalance` unless the balance covers ``amount``."""
        have = self.get(instrument)
        if not covers(have, amount):
            raise InsufficientBalance(f"{instrument}: need {amount:g}, have {have:g}")

    def snapshot(self) -> dict[str, float]:
        return dict(sorted(self._values.items()))


def apply_event(balances: Balances, message: Message, prefix: str) -> None:
    """Apply the balance changes of one event to the keys starting with ``prefix``
    (the same rules as the position monitor, see docs/accounting.md)."""
    match message:
        case (
            InstructionFilled(changes=changes)
            | Liquidated(changes=changes)
            | TransferCompleted(changes=changes)
        ):
            balances.apply_changes(changes, prefix)
        case FlowBooked(kind=kind, instrument=instrument, amount=amount) if instrument.startswith(prefix):
            balances.apply(instrument, amount if kind == "deposit" else -amount)
        case Settled(instrument=instrument, amount=amount) if instrument.startswith(prefix):
            balances.apply(instrument, amount)
        case _:
            pass
