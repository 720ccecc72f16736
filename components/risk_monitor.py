"""Risk monitor: CEX margin ratios, the AAVE health factor and LTV, and the delta drift of hedged modes.

:class:`RiskBook` is pure state (no I/O). :class:`RiskMonitor` publishes a :class:`RiskAssessment` for
every :class:`ExposureSnapshot` (caused by it), so the PnL monitor and the strategy act on fresh risk.

- margin ratio of a CEX with perps = (USDT + PerpNotional + Σ contracts × mark) / Σ |contracts × mark|
  (docs/accounting.md), from the exposures' USDT values;
- health factor = Σ aToken value × liquidation threshold / Σ debt value; LTV = Σ debt / Σ aToken value.
  When every debt is an ETH-correlated asset the account is in eMode: ETH-correlated collateral counts
  at the eMode threshold (0.95), anything else at the standard one (0.85). None when there is no debt
  (health factor) or no collateral (LTV);
- delta drift = |net delta of the hedged asset| × its reference price / equity (USDT), for the
  market-neutral modes that name a hedged asset; 0 otherwise.

Levels: ``critical`` if any measure crosses its critical threshold, ``warning`` if any crosses its
warning threshold, else ``ok``. Each crossing is listed once, at the most severe threshold crossed, as a
stable string: ``margin_ratio:<venue><<threshold>``, ``health_factor<<threshold>``,
``delta_drift:<asset>><threshold>``, ``equity<=0``, ``price:<asset>:unavailable``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.instruments import parse
from basis.bus.messages import ClockTicked, Exposure, ExposureSnapshot, RiskAssessment, RiskLevel

from .base import Component
from .pricing import PriceBook, PriceError, ordered_sum, underlying_of

LEVELS: tuple[RiskLevel, ...] = ("ok", "warning", "critical")
ETH_CORRELATED: frozenset[str] = frozenset({"ETH", "WETH", "weETH", "wstETH"})


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Warning / critical thresholds (defaults from the strategy-mode risk section)."""

    margin_warning: float = 0.30
    margin_critical: float = 0.20
    health_warning: float = 1.25
    health_critical: float = 1.10
    drift_warning: float = 0.03
    drift_critical: float = 0.05


@dataclass(frozen=True, slots=True)
class LiquidationThresholds:
    """AAVE liquidation thresholds: eMode for ETH-correlated collateral against ETH-correlated debt."""

    emode: float = 0.95
    standard: float = 0.85
    emode_assets: frozenset[str] = field(default=ETH_CORRELATED)


class Assessment(NamedTuple):
    """What a :class:`RiskAssessment` carries."""

    level: RiskLevel
    margin_ratios: dict[str, float]
    health_factor: float | None
    ltv: float | None
    delta_drift: float
    breaches: tuple[str, ...]

    def fields(self) -> dict[str, object]:
        return {
            "level": self.level,
            "margin_ratios": self.margin_ratios,
            "health_factor": self.health_factor,
            "ltv": self.ltv,
            "delta_drift": self.delta_drift,
            "breaches": self.breaches,
        }


def margin_ratios(exposures: Mapping[str, Exposure]) -> dict[str, float]:
    """Margin ratio of every venue holding a perp, venues sorted.

    Per venue: (USDT + PerpNotional + Σ perps) / Σ |perps|, each sum taken left to right from 0.0 over
    the keys in sorted order (one pass over the book)."""
    sums: dict[str, list[float]] = {}
    """venue -> [Σ |perp|, Σ USDT, Σ PerpNotional, Σ perp] over its keys, in key order."""
    perps: set[str] = set()
    for k in sorted(exposures):
        venue, position_type, symbol = parse(k)
        if position_type == "Perp":
            value = exposures[k].value_usd
            acc = sums.get(venue)
            if acc is None:
                acc = sums[venue] = [0.0, 0.0, 0.0, 0.0]
            acc[0] += abs(value)
            acc[3] += value
            perps.add(venue)
        elif position_type == "PerpNotional" or (position_type == "BaseToken" and symbol == "USDT"):
            acc = sums.get(venue)
            if acc is None:
                acc = sums[venue] = [0.0, 0.0, 0.0, 0.0]
            acc[2 if position_type == "PerpNotional" else 1] += exposures[k].value_usd
    ratios: dict[str, float] = {}
    for venue in sorted(perps):
        gross, usdt, notional, total = sums[venue]
        if gross == 0.0:
            continue
        ratios[venue] = (usdt + notional + total) / gross
    return ratios


def aave_health(
    exposures: Mapping[str, Exposure], thresholds: LiquidationThresholds
) -> tuple[float | None, float | None]:
    """``(health factor, LTV)`` from the aToken and debtToken values."""
    collateral: list[tuple[str, float]] = []
    debt: list[tuple[str, float]] = []
    if not any(":aToken:" in k or ":debtToken:" in k for k in exposures):
        return None, None
    for k in sorted(exposures):
        _, position_type, symbol = parse(k)
        if position_type == "aToken":
            collateral.append((underlying_of(position_type, symbol), exposures[k].value_usd))
        elif position_type == "debtToken":
            debt.append((underlying_of(position_type, symbol), -exposures[k].value_usd))
    total_debt = ordered_sum(v for _, v in debt)
    total_collateral = ordered_sum(v for _, v in collateral)
    emode = bool(debt) and all(asset in thresholds.emode_assets for asset, _ in debt)

    def threshold(asset: str) -> float:
        return thresholds.emode if emode and asset in thresholds.emode_assets else thresholds.standard

    weighted = ordered_sum(v * threshold(asset) for asset, v in collateral)
    health = weighted / total_debt if total_debt > 0.0 else None
    ltv = total_debt / total_collateral if total_collateral > 0.0 else None
    return health, ltv


def _check(
    breaches: list[tuple[int, str]],
    value: float,
    warning: float,
    critical: float,
    name: str,
    *,
    above: bool = False,
) -> None:
    """Add the worst breach of ``value`` (below the limits, or ``above`` them): critical 2, warning 1."""
    sign = ">" if above else "<"
    for severity, limit in ((2, critical), (1, warning)):
        if (value > limit) if above else (value < limit):
            breaches.append((severity, f"{name}{sign}{limit:g}"))
            return


class RiskBook:
    """Risk rules and the reference prices they need; pure state."""

    __slots__ = ("hedged_asset", "limits", "prices", "thresholds")

    def __init__(
        self,
        *,
        limits: RiskLimits | None = None,
        thresholds: LiquidationThresholds | None = None,
        hedged_asset: str | None = None,
        prices: PriceBook | None = None,
    ) -> None:
        self.prices = prices if prices is not None else PriceBook()
        self.limits = limits or RiskLimits()
        self.thresholds = thresholds or LiquidationThresholds()
        self.hedged_asset = hedged_asset

    def assess(self, snapshot: ExposureSnapshot) -> Assessment:
        limits = self.limits
        exposures = snapshot.exposures
        breaches: list[tuple[int, str]] = []

        ratios = margin_ratios(exposures)
        for venue, ratio in ratios.items():
            _check(breaches, ratio, limits.margin_warning, limits.margin_critical, f"margin_ratio:{venue}")
        health, ltv = aave_health(exposures, self.thresholds)
        if health is not None:
            _check(breaches, health, limits.health_warning, limits.health_critical, "health_factor")
        drift = 0.0
        asset = self.hedged_asset
        if asset is not None and exposures:
            if snapshot.total_usd <= 0.0:
                breaches.append((2, "equity<=0"))
            else:
                try:
                    price = self.prices.asset_price(asset)
                except PriceError:
                    breaches.append((1, f"price:{asset}:unavailable"))
                else:
                    drift = abs(snapshot.net_delta.get(asset, 0.0)) * price / snapshot.total_usd
                    name = f"delta_drift:{asset}"
                    _check(breaches, drift, limits.drift_warning, limits.drift_critical, name, above=True)
        if not breaches:
            return Assessment("ok", ratios, health, ltv, drift, ())
        severity = max(s for s, _ in breaches)
        return Assessment(LEVELS[severity], ratios, health, ltv, drift, tuple(b for _, b in breaches))


class RiskMonitor(Component):
    """Publishes a RiskAssessment for every ExposureSnapshot."""

    name = "risk-monitor"

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        limits: RiskLimits | None = None,
        thresholds: LiquidationThresholds | None = None,
        hedged_asset: str | None = None,
        prices: PriceBook | None = None,
    ) -> None:
        super().__init__(bus, clock, ids)
        self.risk = RiskBook(limits=limits, thresholds=thresholds, hedged_asset=hedged_asset, prices=prices)

    async def on_start(self) -> None:
        await self.follow_prices(self.risk.prices)
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))
        await self.bus.subscribe(
            subjects.evt("exposure", "snapshot"), self.on_exposure, types=(ExposureSnapshot,)
        )

    def on_clock(self, message: ClockTicked) -> None:
        self.risk.prices.advance(message.ts)

    async def on_exposure(self, message: ExposureSnapshot) -> None:
        a = self.risk.assess(message)
        # = self.make(RiskAssessment, cause=message, **a.fields()), built directly
        await self.emit(
            RiskAssessment(
                id=self.ids.next_id(),
                ts=self.clock.now_ns(),
                causation_id=message.id,
                correlation_id=message.correlation_id or message.id,
                level=a.level,
                margin_ratios=a.margin_ratios,
                health_factor=a.health_factor,
                ltv=a.ltv,
                delta_drift=a.delta_drift,
                breaches=a.breaches,
            )
        )
