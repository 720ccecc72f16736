"""``summary.json`` (a contract outside tools read) and ``report.html``.

summary.json keys: ``mode``, ``share_class``, ``run_id``, ``start``, ``end``, ``initial_equity``,
``final_equity``, ``net_flows`` (investor flows after the initial capital), ``pnl``, ``apy``,
``max_drawdown``, ``sharpe``, ``sortino``, ``calmar``, ``volatility``, ``time_in_market``,
``turnover``, ``cost_to_yield``, ``funding_by_venue``, ``monthly_returns``, ``attribution`` (funding,
lending_interest, borrow_cost, staking, price, trading_fees, gas, rewards, liquidation; all in the share
class), ``attribution_remainder`` (equity change minus flows minus the attribution: float rounding
only), ``events``, ``log_digest``, ``wall_seconds``, ``window`` (the default window and why),
``proxies`` (series a venue marks to for want of its own), ``gap_rules`` (every hole in the window,
each with the rule applied: marked to another venue's series, held, or no funding settlement; see
:mod:`.gaps`), ``instructions``, ``store``.

The performance figures (docs/summary.md gives every definition):

- ``apy``, ``max_drawdown``, ``sharpe``, ``sortino``, ``calmar``, ``volatility``, ``monthly_returns``:
  from the daily time-weighted returns (:class:`~.metrics.RunMetrics`);
- ``time_in_market``, ``funding_by_venue``: from the run's log (:mod:`.activity`);
- ``turnover``: traded notional in the share class (:mod:`.activity`) ÷ mean equity, × 365 ÷ the
  window's days (times the book was traded over, per year); None when a traded leg cannot be counted in
  the share class;
- ``cost_to_yield``: −(trading_fees + gas) ÷ (funding + lending_interest + staking + rewards), from the
  attribution; None when that gross yield is not positive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basis.components.feed import iso
from basis.components.pnl_monitor import ATTRIBUTION_KEYS

from .metrics import DAYS_PER_YEAR
from .report import write_report

if TYPE_CHECKING:
    from .run import Backtest, Collector


def build_summary(
    backtest: Backtest,
    collector: Collector,
    counts: dict[str, int],
    events: int,
    log_digest: str,
    wall_seconds: float,
    store_url: str,
) -> dict[str, Any]:
    from .activity import read_activity
    from .gaps import gap_rules

    pnl = collector.last_pnl
    if pnl is None:
        raise RuntimeError("the run produced no PnL snapshot")
    initial = backtest.capital
    net_flows = pnl.net_flows - initial
    attribution = {k: pnl.attribution.get(k, 0.0) for k in ATTRIBUTION_KEYS}
    extra = {k: v for k, v in pnl.attribution.items() if k not in attribution}
    attribution.update(extra)
    final = pnl.equity
    pnl_total = final - initial - net_flows
    metrics = collector.metrics
    lo, hi = backtest.default_window
    activity = read_activity(store_url, backtest.run_id, backtest.config.share_class.name, backtest.window)
    return {
        "mode": backtest.config.mode.name,
        "share_class": backtest.config.share_class.name,
        "run_id": backtest.run_id,
        "start": iso(backtest.window[0]),
        "end": iso(backtest.window[1]),
        "initial_equity": initial,
        "final_equity": final,
        "net_flows": net_flows,
        "pnl": pnl_total,
        "apy": metrics.apy,
        "max_drawdown": metrics.max_drawdown,
        "sharpe": metrics.sharpe,
        "sortino": metrics.sortino,
        "calmar": metrics.calmar,
        "volatility": metrics.volatility,
        "time_in_market": activity.time_in_market,
        "turnover": turnover(activity.traded_notional, metrics.mean_equity, metrics.days),
        "cost_to_yield": cost_to_yield(attribution),
        "funding_by_venue": activity.funding_by_venue,
        "monthly_returns": metrics.monthly_returns(),
        "attribution": attribution,
        "attribution_remainder": pnl_total - sum(attribution[k] for k in sorted(attribution)),
        "events": events,
        "market_data_events": sum(
            v for k, v in counts.items() if k not in ("clock", "timestamps", "flow", "flows_outside_window")
        ),
        "log_digest": log_digest,
        "wall_seconds": round(wall_seconds, 3),
        "window": {
            "default_start": iso(lo),
            "default_end": iso(hi),
            "rule": "the span where every series the mode needs exists",
            "series": [c.to_dict() | {"gaps": len(c.gaps)} for c in backtest.coverage],
        },
        "proxies": [p.to_dict() for p in backtest.wiring.proxies],
        "gap_rules": gap_rules(backtest.coverage, backtest.gap_fills, backtest.window),
        "instructions": {"total": collector.instructions_total, "rejected": collector.rejected_total},
        "stress": stress_outcome(backtest.stress, attribution),
        "store": store_url,
    }


def stress_outcome(stress: dict[str, Any] | None, attribution: dict[str, float]) -> dict[str, Any] | None:
    """The stress scenario of the run (None without one) and, plainly, whether it was survived: a
    liquidation anywhere means it was not, and its loss is attributed to ``liquidation``."""
    if stress is None:
        return None
    loss = attribution.get("liquidation", 0.0)
    return stress | {"liquidated": loss != 0.0, "liquidation_loss": loss}


def turnover(traded_notional: float | None, mean_equity: float, days: float) -> float | None:
    """Traded notional ÷ mean equity, per year (× 365 ÷ ``days``); None when either is not known."""
    if traded_notional is None or mean_equity <= 0 or days <= 0:
        return None
    return traded_notional / mean_equity * DAYS_PER_YEAR / days


GROSS_YIELD = ("funding", "lending_interest", "staking", "rewards")
COSTS = ("trading_fees", "gas")


def cost_to_yield(attribution: dict[str, float]) -> float | None:
    """What fees and gas took of the gross yield: −Σ costs ÷ Σ yield sources; None when the gross yield
    is not positive."""
    gross = sum(attribution.get(k, 0.0) for k in GROSS_YIELD)
    if gross <= 0:
        return None
    return -sum(attribution.get(k, 0.0) for k in COSTS) / gross


def write_outputs(out: Path, summary: dict[str, Any], collector: Collector, *, report: bool) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if report:
        write_report(out, summary, collector.metrics.samples)
