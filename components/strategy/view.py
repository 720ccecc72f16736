"""What one decision looks at (:class:`View`) and what it aims for (:class:`Target`). Pure values, no I/O.

What a decision sends are typed actions (:mod:`basis.bus.messages.actions`), planned by the mode."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from basis.bus import instruments
from basis.bus.messages import RiskAssessment
from basis.components.pricing import PriceBook


@dataclass(frozen=True)
class View:
    """The book a decision is taken on: positions, prices, equity and the withdrawals not yet paid."""

    positions: Mapping[str, float]
    prices: PriceBook
    share_class: str
    withdrawing: float = 0.0
    """Share-class units requested by investors and not yet paid out."""
    withdrawal_buffer: float = 0.0
    """Extra fraction of ``withdrawing`` kept out of the positions (fees paid while unwinding)."""
    risk: RiskAssessment | None = None
    equity_usd: float = field(init=False)
    share_price: float = field(init=False)

    def __post_init__(self) -> None:
        """Values the book as the monitors do (same price book, same order of addition); raises
        :class:`~basis.components.pricing.PriceError` when a price is missing or stale."""
        positions = self.positions
        unit_value_usd = self.prices.unit_value_usd
        equity = (
            0.0  # = book_value(positions, share_units(prices, positions, "USDT")): same terms, same order
        )
        for key in sorted(positions):
            equity += positions[key] * unit_value_usd(key)
        object.__setattr__(self, "equity_usd", equity)
        object.__setattr__(self, "share_price", self.prices.share_price(self.share_class))

    def qty(self, key: str) -> float:
        return self.positions.get(key, 0.0)

    def token(self, venue: str, asset: str) -> float:
        return self.positions.get(instruments.token(venue, asset), 0.0)

    def price(self, asset: str) -> float:
        return self.prices.asset_price(asset)

    def unit_usd(self, key: str) -> float:
        return self.prices.unit_value_usd(key)

    @property
    def equity(self) -> float:
        """Equity in share-class units."""
        return self.equity_usd / self.share_price

    @property
    def deployable_usd(self) -> float:
        """Equity that stays invested once pending withdrawals (and their buffer) are paid; never negative."""
        owed = self.withdrawing * (1.0 + self.withdrawal_buffer) if self.withdrawing else 0.0
        return max(0.0, self.equity_usd - owed * self.share_price)


@dataclass(frozen=True)
class Target:
    """Target quantity per instrument key. ``legs`` are the market positions (capital deployed); the
    other keys are cash balances (collateral, wallet) the strategy also steers."""

    positions: dict[str, float]
    legs: frozenset[str]

    def get(self, key: str) -> float:
        return self.positions.get(key, 0.0)
