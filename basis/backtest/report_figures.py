"""The report's charts as plotly.js figures (plain ``{"data": [...], "layout": {...}}`` dicts).

Every time chart shares one x axis type (UTC dates) and carries the same shading: each hole of the
run's data (``summary.json`` ``gap_rules``, one colour per rule) and each proxy series (a thin band
along the top, for the whole window). Shading is drawn as shapes with a legend entry, so a click on the
legend hides it like a series.

Series come from the run's daily samples (the starting point and the last valuation of every UTC day,
:class:`~.metrics.RunMetrics`) and from the log (:mod:`.report_log`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .metrics import DAYS_PER_YEAR, DailySample
from .report_log import ReportLog
from .report_timeline import timeline

Figure = dict[str, Any]
ROLLING_DAYS = 30
WARNING, CRITICAL = "#f0a020", "#d62728"
GAP_COLOURS = ("#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f")


def _ms(ts_ns: int) -> int:
    return ts_ns // 1_000_000


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _layout(title: str, height: int, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "font": {"size": 15}},
        "height": height,
        "margin": {"l": 70, "r": 20, "t": 40, "b": 40},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.12, "x": 0},
        "xaxis": {"type": "date", "showspikes": True, "spikemode": "across"},
        "template": None,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
    }
    layout.update(extra)
    return layout


def shading(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Shapes for every hole of the data (one legend entry per rule), cut to the run's window, and every
    proxy."""
    shapes: list[dict[str, Any]] = []
    colours: dict[str, str] = {}
    seen: set[tuple[str, str, str]] = set()
    lo, hi = _iso_ms(summary["start"]), _iso_ms(summary["end"])
    for gap in summary.get("gap_rules", []):
        rule = str(gap["rule"])
        key = (rule, gap["start"], gap["end"])
        x0, x1 = max(lo, _iso_ms(gap["start"])), min(hi, _iso_ms(gap["end"]))
        if key in seen or x0 >= x1:
            continue
        seen.add(key)
        first = rule not in colours
        colour = colours.setdefault(rule, GAP_COLOURS[len(colours) % len(GAP_COLOURS)])
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": x0,
                "x1": x1,
                "y0": 0,
                "y1": 1,
                "fillcolor": colour,
                "opacity": 0.18,
                "line": {"width": 0},
                "layer": "below",
                "name": f"gap: {rule}",
                "legendgroup": f"gap: {rule}",
                "showlegend": first,
            }
        )
    for proxy in summary.get("proxies", []):
        name = f"proxy: {proxy['venue']} {proxy['series']} marked to {proxy['marks_to']}"
        shapes.append(
            {
                "type": "rect",
                "xref": "paper",
                "yref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": 0.985,
                "y1": 1,
                "fillcolor": "#17becf",
                "opacity": 0.5,
                "line": {"width": 0},
                "layer": "below",
                "name": name,
                "showlegend": True,
            }
        )
    return shapes


def daily_returns(samples: Sequence[DailySample]) -> list[tuple[int, float]]:
    """``(ts, r)`` of each day after the first sample, time-weighted as :class:`~.metrics.RunMetrics`."""
    out: list[tuple[int, float]] = []
    for before, after in itertools.pairwise(samples):
        if before.equity > 0:
            r = (after.equity - (after.net_flows - before.net_flows) - before.equity) / before.equity
            out.append((after.ts, r))
    return out


EQUITY_PX, DRAWDOWN_PX, ROW_PX, GROUP_TITLE_PX, PANEL_GAP_PX = 300, 130, 20, 22, 30
LEGEND_ENTRY_PX = 200
"""About the width of one legend entry, to leave room for a legend of many entries."""


def equity_figure(summary: dict[str, Any], samples: Sequence[DailySample], log: ReportLog) -> Figure:
    """Equity, the drawdown below it (underwater, from the time-weighted growth), and below those the
    timeline's row groups (:mod:`.report_timeline`) on the same time axis."""
    share = summary.get("share_class", "")
    t = [_ms(s.ts) for s in samples]
    growth, peak, underwater = 1.0, 1.0, [0.0]
    for _, r in daily_returns(samples):
        growth *= 1.0 + r
        peak = max(peak, growth)
        underwater.append(growth / peak - 1.0)
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"equity ({share})",
            "x": t,
            "y": [s.equity for s in samples],
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "drawdown",
            "x": t[: len(underwater)],
            "y": underwater,
            "yaxis": "y2",
            "fill": "tozeroy",
            "line": {"color": CRITICAL, "width": 1},
            "hovertemplate": "%{y:.3~p}",
        },
    ]
    groups = timeline(log)
    panels = [EQUITY_PX, DRAWDOWN_PX] + [GROUP_TITLE_PX + ROW_PX * max(2, len(g.rows)) for g in groups]
    plot_px = sum(panels) + PANEL_GAP_PX * (len(panels) - 1)
    entries = len(data) + sum(1 for g in groups for tr in g.traces if tr.get("showlegend", True))
    entries += len({sh["name"] for sh in shading(summary)})
    legend_px = 26 * (1 + entries * LEGEND_ENTRY_PX // 1240)
    domains, top = [], plot_px
    for px in panels:
        domains.append([max(0.0, (top - px) / plot_px), top / plot_px])
        top -= px + PANEL_GAP_PX
    axes: dict[str, Any] = {
        "yaxis": {"domain": domains[0], "title": {"text": share}, "tickformat": ",.6~g"},
        "yaxis2": {"domain": domains[1], "title": {"text": "drawdown"}, "tickformat": ".2~p"},
    }
    annotations = []
    for n, group in enumerate(groups, start=3):
        low, high = domains[n - 1]
        title_share = GROUP_TITLE_PX / plot_px
        axes[f"yaxis{n}"] = {
            "domain": [low, high - title_share],
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(reversed(group.rows)),
            "range": [-0.6, max(1, len(group.rows)) - 0.4],
            "fixedrange": True,
            "dtick": 1,
            "tickfont": {"size": 10},
            "showgrid": True,
            "gridcolor": "#eeeeee",
        }
        annotations.append(
            {
                "text": f"<b>{group.title}</b>",
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": high,
                "xanchor": "left",
                "yanchor": "top",
                "showarrow": False,
                "font": {"size": 12, "color": "#444444"},
            }
        )
        data.extend(trace | {"yaxis": f"y{n}"} for trace in group.traces)
    layout = _layout(
        "Equity, drawdown and the timeline (hover an event for what it was; click it to open its decision below)",
        40 + plot_px + 40 + legend_px,
        shapes=shading(summary),
        annotations=annotations,
        hovermode="closest",
        **axes,
    )
    layout["xaxis"]["anchor"] = f"y{len(panels)}"
    layout["legend"] = {"orientation": "h", "y": -40 / plot_px, "yanchor": "top", "x": 0}
    return {"data": data, "layout": layout}


def attribution_figure(summary: dict[str, Any], samples: Sequence[DailySample]) -> Figure:
    """Cumulative PnL by source since the start (the share class), and their total."""
    t = [_ms(s.ts) for s in samples]
    keys = [
        k
        for k in dict.fromkeys(k for s in samples for k in s.attribution)
        if any(s.attribution.get(k) for s in samples)
    ]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": k,
            "x": t,
            "y": [s.attribution.get(k, 0.0) for s in samples],
        }
        for k in keys
    ]
    data.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": "total",
            "x": t,
            "y": [sum(s.attribution.values()) for s in samples],
            "line": {"color": "#333333", "dash": "dot"},
        }
    )
    share = summary.get("share_class", "")
    layout = _layout(f"Cumulative attribution by source ({share})", 380, shapes=shading(summary))
    layout["yaxis"] = {"title": {"text": share}, "tickformat": ",.6~g"}
    return {"data": data, "layout": layout}


def funding_figures(summary: dict[str, Any], log: ReportLog) -> list[tuple[str, Figure]]:
    """Cumulative funding per venue, and each venue's realised funding APR beside its average rate;
    none when the run settled no funding."""
    if not log.funding:
        return []
    venues = sorted(log.funding)
    lines = [
        {
            "type": "scatter",
            "mode": "lines",
            "line": {"shape": "hv"},
            "name": f"{venue} ({log.funding[venue].asset})",
            "x": [_ms(ts) for ts in log.funding[venue].times],
            "y": log.funding[venue].cumulative,
        }
        for venue in venues
    ]
    cumulative = _layout(
        "Funding by venue (cumulative, in the asset each venue settles in)", 360, shapes=shading(summary)
    )
    rates = [
        {
            "type": "bar",
            "name": "realised funding APR",
            "x": venues,
            "y": [log.funding[v].realised_apr for v in venues],
            "hovertemplate": "%{y:.3%}",
        },
        {
            "type": "bar",
            "name": "average funding rate (APR)",
            "x": venues,
            "y": [log.funding[v].average_rate_apr for v in venues],
            "hovertemplate": "%{y:.3%}",
        },
    ]
    bars = _layout(
        "Realised funding APR and the venue's average rate", 320, barmode="group", hovermode="closest"
    )
    bars["xaxis"] = {"type": "category"}
    bars["yaxis"] = {"tickformat": ".2%"}
    return [
        ("funding", {"data": lines, "layout": cumulative}),
        ("funding-apr", {"data": rates, "layout": bars}),
    ]


def rolling_apy_figure(summary: dict[str, Any], samples: Sequence[DailySample]) -> Figure | None:
    """APY over the trailing 30 days (compounded daily returns, annualised); None on a shorter run."""
    returns = daily_returns(samples)
    if len(returns) < ROLLING_DAYS:
        return None
    t, y = [], []
    for i in range(ROLLING_DAYS - 1, len(returns)):
        growth = 1.0
        for _, r in returns[i - ROLLING_DAYS + 1 : i + 1]:
            growth *= 1.0 + r
        t.append(_ms(returns[i][0]))
        y.append(growth ** (DAYS_PER_YEAR / ROLLING_DAYS) - 1.0 if growth > 0 else -1.0)
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "name": f"rolling {ROLLING_DAYS}-day APY", "x": t, "y": y}
    ]
    apy = summary.get("apy")
    if isinstance(apy, float):
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "APY over the run",
                "x": [t[0], t[-1]],
                "y": [apy, apy],
                "line": {"dash": "dash", "color": "#7f7f7f"},
            }
        )
    layout = _layout(f"Rolling {ROLLING_DAYS}-day APY", 340, shapes=shading(summary))
    layout["yaxis"] = {"tickformat": ".1%"}
    return {"data": data, "layout": layout}


RISK_ROWS = (
    ("margin ratio", "margin_ratio:", "margin_ratio_warning", "margin_ratio_critical", ".0%"),
    ("health factor", "health_factor", "health_factor_warning", "health_factor_critical", ".3f"),
    ("LTV", "ltv", "target_ltv", "max_ltv", ".1%"),
    ("net delta (|Δ|·price ÷ equity)", "delta_drift", "delta_drift_warning", "delta_drift_critical", ".2%"),
)


def risk_figure(summary: dict[str, Any], samples: Sequence[DailySample], log: ReportLog) -> Figure | None:
    """One panel per risk figure the run has (margin ratio per venue, health factor, LTV, net delta),
    each with its warning and critical thresholds (for LTV: the target and the maximum). A panel spans its
    series and its thresholds with a margin above and below, where the upper threshold's label sits above
    its line and the lower one's below, so that neither leaves the panel nor hides the other."""
    t = [_ms(s.ts) for s in samples]
    keys = list(dict.fromkeys(k for s in samples for k in s.risk))
    rows = [
        (row, [k for k in keys if k == row[1] or (row[1].endswith(":") and k.startswith(row[1]))])
        for row in RISK_ROWS
    ]
    rows = [(row, found) for row, found in rows if found]
    if not rows:
        return None
    gap = 0.1
    height = (1.0 - gap * (len(rows) - 1)) / len(rows)
    data: list[dict[str, Any]] = []
    shapes = shading(summary)
    layout = _layout(
        "Risk over time, with the warning and critical thresholds", 200 + 190 * len(rows), shapes=shapes
    )
    legend_shown: set[str] = set()
    for n, ((title, _, warning, critical, fmt), found) in enumerate(rows):
        axis = "y" if n == 0 else f"y{n + 1}"
        top = 1.0 - n * (height + gap)
        limits = {k: log.limits[k] for k in (warning, critical) if k in log.limits}
        values = [v for s in samples for k in found if (v := s.risk.get(k)) is not None and math.isfinite(v)]
        values += limits.values()
        lo, hi = min(values, default=0.0), max(values, default=1.0)
        pad = 0.12 * (hi - lo) or 0.05 * abs(hi) or 0.01
        layout["yaxis" if n == 0 else f"yaxis{n + 1}"] = {
            "domain": [top - height, top],
            "title": {"text": title, "font": {"size": 11}},
            "tickformat": fmt,
            "range": [lo - pad, hi + pad],
        }
        upper = max(limits.values(), default=0.0)
        for key in found:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": key.replace("margin_ratio:", "margin ratio ")
                    if key.startswith("margin_ratio:")
                    else title,
                    "x": t,
                    "y": [s.risk.get(key) for s in samples],
                    "yaxis": axis,
                    "hovertemplate": f"%{{y:{fmt}}}",
                }
            )
        for limit, colour, label in ((warning, WARNING, "warning"), (critical, CRITICAL, "critical")):
            value = limits.get(limit)
            if value is None:
                continue
            name = f"{label} threshold" if not limit.endswith("ltv") else limit.replace("_", " ")
            shapes.append(
                {
                    "type": "line",
                    "xref": "paper",
                    "yref": axis,
                    "x0": 0,
                    "x1": 1,
                    "y0": value,
                    "y1": value,
                    "line": {"color": colour, "width": 1.5, "dash": "dash"},
                    "name": name,
                    "legendgroup": name,
                    "showlegend": name not in legend_shown,
                    "label": {
                        "text": f"{limit} {value:g}",
                        "font": {"size": 10, "color": colour},
                        "textposition": "end",
                        "yanchor": "bottom" if value == upper else "top",
                    },
                }
            )
            legend_shown.add(name)
    layout["xaxis"]["anchor"] = f"y{len(rows)}" if len(rows) > 1 else "y"
    layout["legend"] = {"orientation": "h", "y": -40 / layout["height"] - 0.02, "x": 0}
    return {"data": data, "layout": layout}
