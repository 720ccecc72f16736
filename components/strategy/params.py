"""Typed parameters of the strategies: one small frozen object per family, independent of the YAML layout.

The composition root builds them (from a mode config with :mod:`basis.components.strategy.config`, or by
hand in tests) and passes them to the strategy's constructor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .venue_terms import VenueTerms


def _check_fraction(name: str, value: float, *, open_low: bool = True, high: float = 1.0) -> None:
    low_ok = value > 0 if open_low else value >= 0
    if not (math.isfinite(value) and low_ok and value <= high):
        raise ValueError(f"{name} must be in {'(' if open_low else '['}0, {high:g}], got {value}")


@dataclass(frozen=True, kw_only=True)
class StrategyParams:
    """What every strategy needs."""

    share_class: str
    """The asset equity is counted in (``USDT``, ``ETH``); investor flows are in this asset."""
    position_deviation_threshold: float = 0.02
    """Rebalance when a position is further than this fraction of equity (by value) from its target."""
    risk_reduction: float = 0.25
    """Fraction of every position cut by one risk override (risk level ``critical``)."""
    min_order_usd: float = 10.0
    """Trades and transfers smaller than this (USD value) are not sent."""
    dust_tokens: tuple[str, ...] = ()
    """Reward tokens sold into the share class when they are worth more than ``dust_threshold``."""
    dust_threshold: float = 0.001
    """Value of a dust token, as a fraction of equity, above which it is sold."""
    dust_into: str | None = None
    """What dust tokens are sold for (default: the share class); the DEX needs a pool of each token
    against it."""
    withdrawal_buffer: float = 0.002
    """Extra fraction of a withdrawal unwound, so that fees paid while unwinding do not leave the wallet
    short of the payout (the surplus is redeployed with the next rebalance)."""
    payout_tolerance: float = 0.001
    """A payout may fall short of the withdrawal by this fraction (gas and fees spent while unwinding are
    borne by the withdrawal); the investor is paid what the wallet holds once it is within it."""
    reject_cooldown_s: float = 600.0
    """After a rejected instruction, no decision before this much clock time has passed (and never in the
    same clock instant); the wait doubles with every further rejection in a row."""
    max_reject_cooldown_s: float = 86_400.0
    """Cap of the doubling wait after rejections in a row."""
    max_decisions_per_tick: int = 10
    """Safety net: at most this many non-hold decisions per clock instant."""
    outcome_timeout_s: float = 21_600.0
    """Clock time the strategy waits for the outcomes of a decision's instructions. Past it, it says so in
    a ``StrategyDecided`` (hold) and decides again on the book as it stands; a payout it stopped waiting
    for is never sent again (its withdrawal stays being paid). The router gives every child a final
    answer well within it (its deadlines and status queries); transfers in flight take longest."""
    wallet: str = "wallet"
    """The on-chain account investor capital arrives in and leaves from."""
    investor: str = "investor"
    """The destination of investor payouts."""

    def __post_init__(self) -> None:
        _check_fraction("position_deviation_threshold", self.position_deviation_threshold)
        _check_fraction("risk_reduction", self.risk_reduction)
        _check_fraction("dust_threshold", self.dust_threshold, open_low=False)
        _check_fraction("payout_tolerance", self.payout_tolerance, open_low=False)
        _check_fraction("withdrawal_buffer", self.withdrawal_buffer, open_low=False)
        if not (math.isfinite(self.min_order_usd) and self.min_order_usd >= 0):
            raise ValueError(f"min_order_usd must be >= 0, got {self.min_order_usd}")
        if not 0 <= self.reject_cooldown_s <= self.max_reject_cooldown_s:
            raise ValueError(
                f"reject_cooldown_s must be in [0, max_reject_cooldown_s={self.max_reject_cooldown_s:g}], "
                f"got {self.reject_cooldown_s}"
            )
        if not (math.isfinite(self.outcome_timeout_s) and self.outcome_timeout_s > 0):
            raise ValueError(f"outcome_timeout_s must be > 0, got {self.outcome_timeout_s}")
        if self.max_decisions_per_tick < 1:
            raise ValueError(f"max_decisions_per_tick must be >= 1, got {self.max_decisions_per_tick}")


@dataclass(frozen=True, kw_only=True)
class LendingParams(StrategyParams):
    """Supply the share-class asset to one lending venue."""

    asset: str = "USDT"
    """The asset supplied (the share class's asset)."""
    venue: str = "aave_v3"
    """The lending venue (where the aToken is booked)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.asset != self.share_class:
            raise ValueError(
                f"a lending strategy supplies its share class asset {self.share_class}, got {self.asset}"
            )


@dataclass(frozen=True, kw_only=True)
class StakingParams(StrategyParams):
    """Stake the share-class ETH into one liquid staking token."""

    token: str = "weETH"
    """The liquid staking token held (its venue stakes ETH into it)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.share_class != "ETH":
            raise ValueError(f"a staking strategy stakes ETH equity, got share class {self.share_class}")


@dataclass(frozen=True, kw_only=True)
class LeveragedStakingParams(StakingParams):
    """Staked ETH levered on a lending venue to ``target_ltv`` through atomic flash-loan bundles."""

    target_ltv: float = 0.8
    """Debt / collateral aimed for (by value); leverage = 1 / (1 − target_ltv)."""
    lending_venue: str = "aave_v3"
    staking_venue: str = "etherfi"
    flash_lender: str = "morpho"
    dex_venue: str = "uniswap"
    """Where the token is sold for WETH when unwinding (inside the bundle)."""
    emode_category: int = 1
    """The lending pool's efficiency-mode category of ETH-correlated assets (from the venue's
    configuration, set by the composition root)."""
    unwind_cost: float = 0.002
    """Extra fraction of the token withdrawn and sold when unwinding, for the pool's fee and slippage."""
    max_slippage_bps: float = 20.0
    """Slippage limit of the unwinding sale, above the pool's expected price impact."""
    pool_depth: float = 0.0
    """Active liquidity on each side of the token's pool against WETH (WETH; from the DEX's configuration,
    set by the composition root): the sale's expected price impact is sized with it (0: none)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_fraction("target_ltv", self.target_ltv)
        if self.target_ltv >= 1.0:
            raise ValueError(f"target_ltv must be below 1, got {self.target_ltv}")
        _check_fraction("unwind_cost", self.unwind_cost, open_low=False)

    @property
    def leverage(self) -> float:
        return 1.0 / (1.0 - self.target_ltv)


def derive_margin_buffer(margin_warning: float, adverse_move: float) -> float:
    """Margin per unit of perp notional that keeps a fresh short above ``margin_warning`` through a price
    rise of ``adverse_move`` (a fraction).

    A short opened with margin ``m × notional`` has, after the price rises by ``x``, margin ratio
    ``r(x) = (m − x) / (1 + x)`` (the loss ``x`` comes out of the margin, the notional grows by ``1 + x``).
    Solving ``r(x) = margin_warning`` for ``m`` gives ``m = margin_warning + x × (1 + margin_warning)``.
    With the default risk thresholds (warning 0.30) and a 10 % headroom, ``m = 0.43``.
    """
    _check_fraction("margin_warning", margin_warning)
    _check_fraction("adverse_move", adverse_move, open_low=False)
    return margin_warning + adverse_move * (1.0 + margin_warning)


@dataclass(frozen=True, kw_only=True)
class BasisParams(StrategyParams):
    """Long ``asset`` spot on ``spot_venue``, short perps split by ``hedge_allocation``, USDT margin.

    Sizing: with equity ``E`` (USD) and margin buffer ``m`` (USDT margin per unit of perp notional), the
    trade size ``S = E / (1 + m)``: ``S`` buys the spot leg, ``m × S`` is the margin spread over the perp
    venues by allocation. The spot and the short are both ``S / price`` units of ``asset``.
    """

    asset: str
    """The asset traded (BTC, ETH)."""
    hedge_allocation: Mapping[str, float]
    """Share of the perp short per venue; venues with 0 are not used. Normalised to sum to 1."""
    margin_buffer: float
    """``m``: USDT margin per unit of perp notional (see :func:`derive_margin_buffer`)."""
    margin_warning: float = 0.30
    """Margin ratio at or below which collateral is rebalanced across venues (the risk warning level)."""
    open_margin_ratio: float | None = None
    """Lowest margin ratio a venue may have after a perp order that grows the short (default: the warning
    level, so a new position never starts in warning)."""
    spot_venue: str = "binance"
    quote: str = "USDT"
    fee_buffer: float = 0.002
    """Extra quote kept per unit bought for fees and slippage when funding a spot purchase."""
    transfer_band: float = 0.1
    """How far a venue's balance may drift from what it should hold, as a fraction of that amount, before
    cash is moved to or from it. Every transfer pays gas or a withdrawal fee, so small drifts wait until
    they are worth a transfer. Must stay below ``1 − margin_warning / margin_buffer`` so that a venue in
    margin warning always gets its top-up; withdrawals owed to investors are funded whatever the drift."""
    delta_band: float = 0.015
    """Net delta (units long − units short, valued at the asset's price) as a fraction of equity above which
    the legs are brought back to their size (from a mode: half the risk ``delta_drift_warning``)."""
    margin_floor: float | None = None
    """Margin ratio below which a venue is out of its band (default: halfway between ``margin_warning``
    and ``margin_buffer``, so the strategy acts before the risk monitor warns)."""
    margin_ceiling: float | None = None
    """Margin ratio of the hedge as a whole above which the trade is sized up again with the idle
    collateral (default: none: after a fall the collateral above the buffer stays on the venues as the
    reserve for the next rise, and the size follows equity)."""
    allocation: dict[str, float] = field(init=False)
    """The active allocation (weights > 0), normalised, in configuration order."""

    def __post_init__(self) -> None:
        super().__post_init__()
        active = {venue: w for venue, w in self.hedge_allocation.items() if w > 0}
        total = sum(active.values())
        if not active or not math.isfinite(total):
            raise ValueError("hedge_allocation needs at least one venue with a positive weight")
        if any(w < 0 for w in self.hedge_allocation.values()):
            raise ValueError("hedge_allocation weights must be >= 0")
        scale = 1.0 if abs(total - 1.0) <= 1e-12 else 1.0 / total
        object.__setattr__(self, "allocation", {venue: w * scale for venue, w in active.items()})
        if not (math.isfinite(self.margin_buffer) and self.margin_buffer > 0):
            raise ValueError(f"margin_buffer must be > 0, got {self.margin_buffer}")
        _check_fraction("margin_warning", self.margin_warning)
        if self.margin_buffer <= self.margin_warning:
            raise ValueError(
                f"margin_buffer ({self.margin_buffer:g}) must be above margin_warning ({self.margin_warning:g}): "
                "a new position would start in warning"
            )
        if self.open_margin_ratio is not None and not 0 < self.open_margin_ratio <= self.margin_buffer:
            raise ValueError(f"open_margin_ratio must be in (0, margin_buffer], got {self.open_margin_ratio}")
        if self.fee_buffer < 0:
            raise ValueError(f"fee_buffer must be >= 0, got {self.fee_buffer}")
        _check_fraction("delta_band", self.delta_band)
        low, high = self.margin_band
        if not self.margin_warning <= low < self.margin_buffer < high:
            raise ValueError(
                f"the margin band ({low:g}, {high:g}) must hold margin_buffer ({self.margin_buffer:g}) and "
                f"start at or above margin_warning ({self.margin_warning:g})"
            )
        band_limit = 1.0 - self.margin_warning / self.margin_buffer
        if not (math.isfinite(self.transfer_band) and 0.0 <= self.transfer_band < band_limit):
            raise ValueError(
                f"transfer_band must be in [0, {band_limit:.3g}) (1 − margin_warning / margin_buffer: a venue "
                f"in margin warning must always get its top-up), got {self.transfer_band}"
            )
        if self.share_class not in (self.quote, self.asset):
            raise ValueError(
                f"share class {self.share_class} must be the quote {self.quote} or the asset {self.asset}"
            )

    @cached_property
    def symbol(self) -> str:
        """The spot and perp symbol, e.g. ``BTCUSDT``."""
        return f"{self.asset}{self.quote}"

    @property
    def margin_band(self) -> tuple[float, float]:
        """``(floor, ceiling)`` of a venue's margin ratio (see ``margin_floor``, ``margin_ceiling``)."""
        m, w = self.margin_buffer, self.margin_warning
        low = (w + m) / 2.0 if self.margin_floor is None else self.margin_floor
        high = math.inf if self.margin_ceiling is None else self.margin_ceiling
        return low, high

    @property
    def opening_ratio(self) -> float:
        return self.margin_warning if self.open_margin_ratio is None else self.open_margin_ratio

    @cached_property
    def cex_venues(self) -> tuple[str, ...]:
        """The spot venue first, then the hedge venues in allocation order."""
        return (self.spot_venue, *(v for v in self.allocation if v != self.spot_venue))


@dataclass(frozen=True, kw_only=True)
class HedgedStakingParams(BasisParams):
    """The basis trade on ETH with the long leg staked in ``token`` (USDT share class).

    ``stake_allocation`` ``s`` is the share of equity staked; the rest is perp margin, so
    ``margin_buffer = (1 − s) / s`` (the composition root derives it from the mode)."""

    token: str = "weETH"
    """The liquid staking token the long is held in."""
    stake_allocation: float = 0.5
    dex_venue: str = "uniswap"
    """Where the token is sold for ETH when the long shrinks (``unwind_via: dex``)."""
    unwind_via: Literal["dex", "queue"] = "dex"
    """How the token becomes ETH again: sold on the DEX at once, or redeemed through the protocol's
    withdrawal queue (no pool fee, days in transit; the book stays hedged meanwhile)."""
    unwind_cost: float = 0.002
    """Extra fraction of the token sold on the DEX, for the pool's fee and slippage."""
    max_slippage_bps: float = 20.0
    pool_depth: float = 0.0
    """Active liquidity on each side of the token's pool against WETH (see
    :class:`LeveragedStakingParams`)."""
    gas_reserve: float = 0.05
    """ETH the wallet keeps unstaked to pay gas (a decision may send several on-chain instructions)."""
    max_gas_share: float = 0.02
    """Idle ETH in the wallet is staked (levered) only once the gas of doing so is at most this fraction of
    it; until then it waits in the wallet, hedged."""
    transfer_terms: Mapping[str, VenueTerms] = field(default_factory=dict)
    """What moving funds between the venues costs (from their configuration, set by the composition
    root); without them idle collateral is never redeployed."""
    trading_fee: float = 0.0015
    """Taker fees of a spot purchase plus a short of the same size, a fraction of the value."""
    redeploy_band: float = 0.1
    """Idle collateral is put to the optimizer once the size the equity supports at the current price is
    this fraction above the size held (smaller moves cost more than they earn before the next one)."""
    redeploy_horizon_days: float = 30.0
    """The optimizer's horizon when idle collateral may go back to work (:mod:`.redeploy`)."""
    redeploy_margin: float = 1.5
    """The optimizer's EXECUTE margin: the gain over the horizon must exceed the cost this many times."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.gas_reserve) and self.gas_reserve >= 0.0):
            raise ValueError(f"gas_reserve must be >= 0, got {self.gas_reserve}")
        _check_fraction("stake_allocation", self.stake_allocation)
        if self.stake_allocation >= 1.0:
            raise ValueError("stake_allocation must be below 1: the rest of equity is the hedge's margin")
        if self.share_class != self.quote:
            raise ValueError(
                f"a hedged staking strategy counts equity in {self.quote}, got {self.share_class}"
            )
        _check_fraction("unwind_cost", self.unwind_cost, open_low=False)
        if self.unwind_via not in ("dex", "queue"):
            raise ValueError(f"unwind_via must be dex or queue, got {self.unwind_via!r}")


@dataclass(frozen=True, kw_only=True)
class HedgedLeveragedParams(HedgedStakingParams):
    """The hedged staking trade with the staked ETH levered to ``target_ltv`` on a lending venue through
    atomic flash-loan bundles (the perp shorts hedge the net ETH: collateral less debt)."""

    target_ltv: float = 0.8
    lending_venue: str = "aave_v3"
    staking_venue: str = "etherfi"
    flash_lender: str = "morpho"
    emode_category: int = 1
    health_warning: float = 1.15
    """Health factor below which the LTV emergency protocol repays debt (the risk warning level)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.health_warning) and self.health_warning > 1.0):
            raise ValueError(f"health_warning must be above 1, got {self.health_warning}")
        _check_fraction("target_ltv", self.target_ltv)
        if self.target_ltv >= 1.0:
            raise ValueError(f"target_ltv must be below 1, got {self.target_ltv}")

    @property
    def leverage(self) -> float:
        return 1.0 / (1.0 - self.target_ltv)
