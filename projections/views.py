"""The monitors' views recomputed at every valuation from the facts, and each stored checkpoint checked.

The log keeps facts and, as checkpoints only, the views the monitors published (the log rule,
:mod:`basis.bus.store.rule`). :class:`ViewsProjection` rebuilds every view the monitors computed, with
their own pure state classes on one price book: a :class:`PositionSnapshot` after each balance event, an
:class:`ExposureSnapshot` and a :class:`RiskAssessment` after each of those and at each clock tick that
moves a unit value in use, and the PnL figures at every valuation (:class:`PnlProjection`).

A stored checkpoint is met in the log where it was published, after the facts it was computed from.
It is checked against the views recomputed at its time (``ts``): it must equal one of them exactly
(``==`` on every field but the envelope: id, causation and correlation ids). A checkpoint that equals
none is a difference, named with its log position and time, its first differing fields against the
latest recomputed view, and the balance facts met since the last checkpoint that agreed (where to
look: one of them, or the market data between, is not what the monitors saw).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from basis.bus.messages import (
    ExposureSnapshot,
    Message,
    PnlSnapshot,
    PositionSnapshot,
    RiskAssessment,
)
from basis.components.exposure_monitor import Exposures, Valuation
from basis.components.pricing import PriceError
from basis.components.risk_monitor import LiquidationThresholds, RiskBook, RiskLimits

from .pnl import PnlProjection
from .positions import PositionsProjection

VIEWS: tuple[type[Message], ...] = (PositionSnapshot, ExposureSnapshot, RiskAssessment, PnlSnapshot)
_ENVELOPE = frozenset({"id", "ts", "correlation_id", "causation_id", "schema_version"})
_RECENT = 64
"""Recomputed views remembered per kind (a checkpoint follows its valuation closely in the log)."""
_SUSPECTS = 50
"""Balance facts named at most in a difference: the first ones after the last checkpoint that agreed."""


def content(view: Message) -> dict[str, Any]:
    """A view's fields without its envelope (id, ts, causation and correlation ids)."""
    return {f: getattr(view, f) for f in view.__struct_fields__ if f not in _ENVELOPE}


def risk_book_of(config: Mapping[str, Any], prices: Any) -> RiskBook:
    """The risk monitor's rules from a run's configuration as ``RunStarted.config`` carries it (what
    ``build_risk_monitor`` reads from the loaded configuration)."""
    mode = config.get("mode", {})
    risk = mode.get("risk", {})
    defaults = RiskLimits()
    limits = RiskLimits(
        margin_warning=risk.get("margin_ratio_warning", defaults.margin_warning),
        margin_critical=risk.get("margin_ratio_critical", defaults.margin_critical),
        health_warning=risk.get("health_factor_warning", defaults.health_warning),
        health_critical=risk.get("health_factor_critical", defaults.health_critical),
        drift_warning=risk.get("delta_drift_warning", defaults.drift_warning),
        drift_critical=risk.get("delta_drift_critical", defaults.drift_critical),
    )
    share = config.get("share_class", {}).get("name")
    asset = mode.get("asset")
    hedged = asset if config.get("market_neutral") and asset != share else None
    thresholds = LiquidationThresholds()
    for venue in config.get("venues", {}).values():
        params = venue.get("risk_params")
        if params is not None:
            thresholds = LiquidationThresholds(
                emode=params["emode"]["liquidation_threshold"],
                standard=params["standard"]["liquidation_threshold"],
                emode_assets=frozenset(params.get("emode_assets", ())),
            )
    return RiskBook(limits=limits, thresholds=thresholds, hedged_asset=hedged, prices=prices)


class ViewsProjection:
    """Every view at every valuation, from the facts; each stored checkpoint checked against them."""

    def __init__(self, pnl: PnlProjection, positions: PositionsProjection, risk: RiskBook | None) -> None:
        self.pnl = pnl
        self.positions = positions
        self.exposures = Exposures(pnl.prices, pnl.share_class)
        self.risk = risk
        """None when the log does not say the run's risk rules (no ``RunStarted.config``): risk
        checkpoints are then not checked."""
        self.valuations = 0
        """Valuations recomputed (ticks that moved a unit value in use, and balance events)."""
        self.checked = 0
        """Stored checkpoints that equal a recomputed view."""
        self.differences: list[str] = []
        self.errors: list[str] = []
        """Valuations that could not be recomputed (a price unusable), as the monitor's would have failed."""
        self._recent: dict[type[Message], deque[tuple[int, dict[str, Any]]]] = {
            kind: deque(maxlen=_RECENT) for kind in VIEWS
        }
        self._since_agreed: list[str] = []
        self._agreed_at = 0
        pnl.on_valuation = self._pnl_valued

    # --- recomputing -----------------------------------------------------------------------------

    def _remember(self, kind: type[Message], ts: int, fields: dict[str, Any]) -> None:
        self._recent[kind].append((ts, fields))

    def _pnl_valued(self, ts: int) -> None:
        self._remember(PnlSnapshot, ts, dict(self.pnl.snapshot_fields()))

    def _exposure(self, valuation: Valuation, ts: int, through: str) -> None:
        fields = dict(valuation.snapshot_fields())
        fields["through"] = through
        self._remember(ExposureSnapshot, ts, fields)
        self.valuations += 1
        if self.risk is None:
            return
        snapshot = ExposureSnapshot(
            id="",
            ts=ts,
            share_class=valuation.share_class,
            exposures=valuation.exposures,
            net_delta=valuation.net_delta,
            total_usd=valuation.total_usd,
            total_share=valuation.total_share,
            through=through,
        )
        a = self.risk.assess(snapshot)
        self._remember(
            RiskAssessment,
            ts,
            {
                "level": a.level,
                "margin_ratios": a.margin_ratios,
                "health_factor": a.health_factor,
                "ltv": a.ltv,
                "delta_drift": a.delta_drift,
                "breaches": a.breaches,
                "through": through,
            },
        )

    def on_tick(self, ts: int) -> None:
        """The clock ticked at ``ts`` (prices advanced): the exposure monitor's revaluation, if any."""
        try:
            valuation = self.exposures.on_clock(ts)
        except PriceError as exc:
            self.errors.append(f"{ts}: {exc}")
            return
        if valuation is not None:
            self._exposure(valuation, ts, "")

    def on_balance(self, message: Message, position: int) -> None:
        """A balance event was booked: the position monitor's snapshot and the exposure behind it."""
        positions = self.positions.positions
        self._remember(PositionSnapshot, message.ts, {"positions": positions, "through": message.id})
        if len(self._since_agreed) < _SUSPECTS:
            self._since_agreed.append(f"{position} {type(message).__name__} {message.id}")
        try:
            valuation = self.exposures.on_positions(positions)
        except PriceError as exc:
            self.errors.append(f"{message.ts}: {exc}")
            return
        self._exposure(valuation, message.ts, message.id)

    # --- checking --------------------------------------------------------------------------------

    def check(self, view: Message, position: int, subject: str) -> None:
        """``view`` is a stored checkpoint met at log ``position``: it must equal a view recomputed at its time."""
        kind = type(view)
        if kind is RiskAssessment and self.risk is None:
            return
        stored = content(view)
        candidates = [fields for ts, fields in self._recent[kind] if ts == view.ts]
        if any(fields == stored for fields in candidates):
            self.checked += 1
            self._agreed_at = position
            self._since_agreed.clear()
            return
        latest = candidates[-1] if candidates else (self._recent[kind][-1][1] if self._recent[kind] else None)
        if latest is None:
            detail = "no valuation was recomputed before it"
        else:
            detail = "; ".join(_differences(latest, stored)[:4]) or "equal fields, other time"
            if not candidates:
                detail = f"no valuation at its time; against the latest: {detail}"
        suspects = ", ".join(self._since_agreed) or "none"
        self.differences.append(
            f"checkpoint {subject} at log position {position} (ts {view.ts}): {detail}; balance facts since "
            f"the last checkpoint that agreed (position {self._agreed_at}): {suspects}"
        )


def _differences(recomputed: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name in stored:
        r, s = recomputed.get(name), stored[name]
        if r == s:
            continue
        if isinstance(r, dict) and isinstance(s, dict):
            for k in sorted(set(r) | set(s)):
                if r.get(k) != s.get(k):
                    out.append(f"{name}[{k}]: recomputed {r.get(k)!r} != stored {s.get(k)!r}")
        else:
            out.append(f"{name}: recomputed {r!r} != stored {s!r}")
    return out
