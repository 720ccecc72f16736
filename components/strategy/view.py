"""What one decision looks at (:class:`View`), what it aims for (:class:`Target`) and what it sends
(:class:`Order`). Pure values, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from basis.bus import instruments
from basis.bus.messages import (
    Instruction,
    PerpTrade,
    RiskAssessment,
    Side,
    SpotTrade,
    Supply,
    Swap,
    Transfer,
    Withdraw,
)
from basis.components.pricing import PriceBook
from basis.components.router.actions import HEDGE, LENDING, ROUTER, SPOT, SWAP, WALLET_TRANSFER


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


@dataclass(frozen=True)
class Order:
    """One instruction to send: its type and fields (``venue`` defaults to the router)."""

    kind: type[Instruction]
    fields: Mapping[str, Any]
    venue: str = ROUTER

    def describe(self) -> str:
        body = ", ".join(f"{k}={v}" for k, v in self.fields.items() if k != "action")
        return f"{self.kind.__name__}@{self.venue}({body})"


def spot_order(symbol: str, side: Side, quantity: float) -> Order:
    return Order(SpotTrade, {"action": SPOT, "symbol": symbol, "side": side, "quantity": quantity})


def hedge_order(symbol: str, side: Side, quantity: float, *, reduce_only: bool = False) -> Order:
    fields = {
        "action": HEDGE,
        "symbol": symbol,
        "side": side,
        "quantity": quantity,
        "reduce_only": reduce_only,
    }
    return Order(PerpTrade, fields)


def transfer_order(source: str, destination: str, asset: str, amount: float) -> Order:
    fields = {
        "action": WALLET_TRANSFER,
        "source": source,
        "destination": destination,
        "asset": asset,
        "amount": amount,
    }
    return Order(Transfer, fields)


def supply_order(asset: str, amount: float) -> Order:
    return Order(Supply, {"action": LENDING, "asset": asset, "amount": amount})


def withdraw_order(asset: str, amount: float) -> Order:
    return Order(Withdraw, {"action": LENDING, "asset": asset, "amount": amount})


def swap_order(sell_asset: str, buy_asset: str, amount: float) -> Order:
    return Order(Swap, {"action": SWAP, "sell_asset": sell_asset, "buy_asset": buy_asset, "amount": amount})
