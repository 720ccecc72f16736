"""Market data: published by feeds on ``md.<kind>.<venue>.<instrument>``."""

from __future__ import annotations

from typing import Literal

from .base import Message

Market = Literal["spot", "perp", "dex"]


class Bar(Message, frozen=True, kw_only=True):
    """One OHLCV candle covering ``[open_ts, open_ts + interval_s)``; ``ts`` is its close time."""

    venue: str
    symbol: str
    market: Market
    open_ts: int
    interval_s: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class OraclePrice(Message, frozen=True, kw_only=True):
    """A price published by an on-chain oracle (e.g. the AAVE oracle), in ``quote`` per 1 ``asset``."""

    venue: str
    asset: str
    quote: str
    price: float


class FundingRate(Message, frozen=True, kw_only=True):
    """A perpetual funding settlement: fraction of notional paid by longs to shorts at ``ts``."""

    venue: str
    symbol: str
    rate: float
    interval_hours: int = 8


class ReserveState(Message, frozen=True, kw_only=True):
    """State of one lending reserve (AAVE v3): indices as floats (ray / 1e27), rates as APR decimals."""

    venue: str
    asset: str
    liquidity_index: float
    variable_borrow_index: float
    liquidity_rate: float
    variable_borrow_rate: float
    price_usd: float


class LstRate(Message, frozen=True, kw_only=True):
    """Exchange rate of a liquid staking token: ETH per 1 ``token``."""

    venue: str
    token: str
    rate: float


class GasPrice(Message, frozen=True, kw_only=True):
    """Gas price on a chain, in gwei (base fee + median priority fee)."""

    chain: str
    base_fee_gwei: float
    priority_fee_gwei: float
    price_gwei: float


class RewardDistribution(Message, frozen=True, kw_only=True):
    """Reward tokens distributed per unit of a staked token (e.g. EIGEN per eETH) for a closed period."""

    venue: str
    token: str
    reward_token: str
    amount_per_unit: float
    """Reward tokens per unit of ``token`` for the period, as published."""
    period_start: int = 0
    """Start of the staking period the amount is for (ns, its first day 00:00 UTC); 0: not given."""
    period_end: int = 0
    """End of that period (ns, exclusive: 00:00 UTC of the day after its last day); 0: not given."""
    distributed: float = 0.0
    """Reward tokens distributed for the period in all (0: not given)."""
    staked: float = 0.0
    """Units of ``token`` that shared them (0: not given)."""


class ModelSignal(Message, frozen=True, kw_only=True):
    """A model's view of the next move: direction -1/0/+1, confidence in [0, 1], standard deviation in bps."""

    model: str
    symbol: str
    direction: int
    confidence: float
    sd_bps: float


MarketData = (
    Bar | OraclePrice | FundingRate | ReserveState | LstRate | GasPrice | RewardDistribution | ModelSignal
)
