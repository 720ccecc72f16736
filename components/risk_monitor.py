"""Risk monitor: CEX margin ratios, the AAVE health factor and LTV, and the delta drift of hedged modes.

:class:`RiskBook` is pure state (no I/O). :class:`RiskMonitor` publishes a :class:`RiskAssessment` for
every :class:`ExposureSnapshot` (caused by it), so the PnL monitor and the strategy act on fresh risk.

- margin ratio of a CEX with perps = (USDT + PerpNotional + Σ contracts × mark) / Σ |contracts × mark|
  (docs/accounting.md), from the exposures' USDT values;
- health factor = Σ aToken value × liquidation threshold / Σ debt value; LTV = Σ debt / Σ aToken value.
  When every debt is an asset of the venue's eMode category the account is in eMode: collateral of that
  category counts at the eMode threshold, anything else at the standard one (both from the lending
  venue's configuration, :class:`LiquidationThresholds`). None when there is no debt (health factor) or
  no collateral (LTV);
- delta drift = |net delta of the hedged asset| × its reference price / equity (USDT), for the
  market-neutral modes that name a hedged asset; 0 otherwise.

Levels: ``critical`` if any measure crosses its critical threshold, ``warning`` if any crosses its
warning threshold, else ``ok``. Each crossing is listed once, at the most severe threshold crossed, as a
stable string: ``margin_ratio:<venue><<threshold>``, ``health_factor<<threshold>``,
``delta_drift:<asset>><threshold>``, ``equity<=0``, ``price:<asset>:unavailable``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.component import Component
from basis.bus.ids import IdFactory
from basis.bus.instruments import parse
from basis.bus.messages import ClockTicked, Exposure, ExposureSnapshot, RiskAssessment, RiskLevel

from .pricing import PriceBook, PriceError, follow_prices, ordered_sum, underlying_of

LEVELS: tuple[RiskLevel, ...] = ("ok", "warning", "critical")


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
    """The lending venue's liquidation thresholds, from its configuration (``risk_params``): ``emode``
    for collateral among ``emode_assets`` when every debt is among them too, ``standard`` otherwise.
    Without eMode assets every collateral counts at ``standard``."""

    emode: float = 0.95
    standard: float = 0.85
    emode_assets: frozenset[str] = frozenset()


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


class Layout:
    """What the risk rules read from a book's instrument keys, worked out once per set of keys: which
    keys feed which margin ratio and which feed the AAVE health factor, each list in sorted key order
    (the order the sums are taken in, left to right from 0.0)."""

    __slots__ = ("collateral", "debt", "keys", "margins", "thresholds")

    def __init__(self, keys: Iterable[str], thresholds: LiquidationThresholds) -> None:
        self.keys: frozenset[str] = frozenset(keys)
        self.thresholds = thresholds
        perps: dict[str, list[str]] = {}
        usdt: dict[str, list[str]] = {}
        notional: dict[str, list[str]] = {}
        collateral: list[tuple[str, str]] = []
        debt: list[tuple[str, str]] = []
        for k in sorted(self.keys):
            venue, position_type, symbol = parse(k)
            if position_type == "Perp":
                perps.setdefault(venue, []).append(k)
            elif position_type == "PerpNotional":
                notional.setdefault(venue, []).append(k)
            elif position_type == "BaseToken" and symbol == "USDT":
                usdt.setdefault(venue, []).append(k)
            elif position_type == "aToken":
                collateral.append((k, underlying_of(position_type, symbol)))
            elif position_type == "debtToken":
                debt.append((k, underlying_of(position_type, symbol)))
        self.margins: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = tuple(
            (venue, tuple(perps[venue]), tuple(usdt.get(venue, ())), tuple(notional.get(venue, ())))
            for venue in sorted(perps)
        )
        """Per venue holding a perp (venues sorted): its perp, USDT and PerpNotional keys."""
        emode = bool(debt) and all(asset in thresholds.emode_assets for _, asset in debt)
        self.collateral: tuple[tuple[str, float], ...] = tuple(
            (k, thresholds.emode if emode and asset in thresholds.emode_assets else thresholds.standard)
            for k, asset in collateral
        )
        """aToken keys and the liquidation threshold each counts at."""
        self.debt: tuple[str, ...] = tuple(k for k, _ in debt)

    def margin_ratios(self, exposures: Mapping[str, Exposure]) -> dict[str, float]:
        """Margin ratio of every venue holding a perp, venues sorted: (USDT + PerpNotional + Σ perps) /
        Σ |perps|, each sum taken left to right from 0.0 over its keys in sorted order."""
        ratios: dict[str, float] = {}
        for venue, perp_keys, usdt_keys, notional_keys in self.margins:
            gross = 0.0
            total = 0.0
            for k in perp_keys:
                value = exposures[k].value_usd
                gross += abs(value)
                total += value
            if gross == 0.0:
                continue
            usdt = ordered_sum(exposures[k].value_usd for k in usdt_keys)
            notional = ordered_sum(exposures[k].value_usd for k in notional_keys)
            ratios[venue] = (usdt + notional + total) / gross
        return ratios

    def aave_health(self, exposures: Mapping[str, Exposure]) -> tuple[float | None, float | None]:
        """``(health factor, LTV)`` from the aToken and debtToken values."""
        if not self.collateral and not self.debt:
            return None, None
        total_debt = ordered_sum(-exposures[k].value_usd for k in self.debt)
        total_collateral = 0.0
        weighted = 0.0
        for k, threshold in self.collateral:
            value = exposures[k].value_usd
            total_collateral += value
            weighted += value * threshold
        health = weighted / total_debt if total_debt > 0.0 else None
        ltv = total_debt / total_collateral if total_collateral > 0.0 else None
        return health, ltv


def _check(
    breaches: list[tuple[int, str]],
    value: float,
    warning: float,
    critical: float,
    name: str,
    detail: str = "",
    *,
    above: bool = False,
) -> None:
    """Add the worst breach of ``value`` (below the limits, or ``above`` them): critical 2, warning 1,
    named ``<name><detail><sign><limit>`` (the name is only built for a breach)."""
    sign = ">" if above else "<"
    for severity, limit in ((2, critical), (1, warning)):
        if (value > limit) if above else (value < limit):
            breaches.append((severity, f"{name}{detail}{sign}{limit:g}"))
            return


class RiskBook:
    """Risk rules and the reference prices they need; pure state."""

    __slots__ = ("_layout", "hedged_asset", "limits", "prices", "thresholds")

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
        self._layout: Layout | None = None
        """The layout of the last book assessed: reused while the book holds the same keys."""

    def layout(self, exposures: Mapping[str, Exposure]) -> Layout:
        """The :class:`Layout` of the keys of ``exposures``, worked out again only when they change."""
        layout = self._layout
        if layout is None or exposures.keys() != layout.keys or layout.thresholds is not self.thresholds:
            layout = self._layout = Layout(exposures, self.thresholds)
        return layout

    def assess(self, snapshot: ExposureSnapshot) -> Assessment:
        limits = self.limits
        exposures = snapshot.exposures
        breaches: list[tuple[int, str]] = []

        layout = self.layout(exposures)
        ratios = layout.margin_ratios(exposures)
        for venue, ratio in ratios.items():
            _check(breaches, ratio, limits.margin_warning, limits.margin_critical, "margin_ratio:", venue)
        health, ltv = layout.aave_health(exposures)
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
                    warning, critical = limits.drift_warning, limits.drift_critical
                    _check(breaches, drift, warning, critical, "delta_drift:", asset, above=True)
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
        await follow_prices(self.bus, self.risk.prices)
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))
        await self.bus.subscribe(
            subjects.evt("exposure", "snapshot"), self.on_exposure, types=(ExposureSnapshot,)
        )

    def history(self) -> tuple[str, ...]:
        """The market data (its prices), the exposure snapshots and its own assessments."""
        return (
            subjects.pattern(subjects.MD, ">"),
            subjects.evt("exposure", "snapshot"),
            subjects.evt("risk", "assessment"),
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
                through=message.through,
            )
        )
