"""The rows of the report's timeline: what happened when, under equity and drawdown on their time axis.

One row group per kind of event the run has, each row one category of it, each event one marker (every
row is one plotly trace, so a run with thousands of events still has one legend entry per row):

- **decisions**: every ``StrategyDecided``, one row per action;
- **emergency actions**: every ``EmergencyAction``, one row per protocol (coloured by protocol), and
  every liquidation;
- **optimizer verdicts**: every ``RebalanceAssessed``, one row per answer;
- **transfers and on-chain moves**: every transfer, one row per asset, a marker when it was sent and a
  bar to when it arrived; every stake, unstake, swap and bundle, one row per kind.

Hover a marker for what it was; a click opens the decision that caused it, or acted on it, in the list
below the charts (``customdata`` is that decision's id).
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from basis.bus.messages import EmergencyAction, Liquidated, RebalanceAssessed

from .report_log import Decision, Flagged, Move, ReportLog

ACTIONS = ("entry_full", "entry_partial", "exit_partial", "exit_full", "sell_dust", "hold")
ACTION_COLOURS = {
    "entry_full": "#2ca02c",
    "entry_partial": "#98df8a",
    "exit_partial": "#ff9896",
    "exit_full": "#d62728",
    "sell_dust": "#bcbd22",
    "hold": "#c7c7c7",
}
PROTOCOLS = ("cex_margin", "aave_ltv", "imbalance")
PROTOCOL_COLOURS = {"cex_margin": "#d62728", "aave_ltv": "#ff7f0e", "imbalance": "#9467bd"}
LIQUIDATION = "liquidation"
ANSWERS = ("EXECUTE", "NEUTRAL", "DEFER")
ANSWER_COLOURS = {"EXECUTE": "#2ca02c", "NEUTRAL": "#7f7f7f", "DEFER": "#ff7f0e"}
ASSET_COLOURS = {"USDT": "#1f77b4", "USDC": "#17becf", "ETH": "#9467bd", "WETH": "#9467bd", "BTC": "#ff7f0e"}
ONCHAIN = ("stake", "unstake", "swap", "bundle")
ONCHAIN_COLOURS = {"stake": "#2ca02c", "unstake": "#98df8a", "swap": "#bcbd22", "bundle": "#8c564b"}
OTHER_COLOUR = "#7f7f7f"
WRAP = 110
"""Hover lines longer than this many characters wrap."""


@dataclass(slots=True)
class RowGroup:
    """Rows (top to bottom) on one category axis, their traces, and the group's title."""

    title: str
    rows: list[str] = field(default_factory=list)
    traces: list[dict[str, Any]] = field(default_factory=list)


def _ms(ts_ns: int) -> int:
    return ts_ns // 1_000_000


def _when(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _lines(*lines: str) -> str:
    """Hover text: each line escaped (plotly reads ``<`` as the start of a tag) and wrapped."""
    out: list[str] = []
    for line in lines:
        wrapped = textwrap.wrap(line, WRAP, subsequent_indent="    ") or [""]
        out.extend(html.escape(w, quote=False) for w in wrapped)
    return "<br>".join(out)


def _duration(ns: int) -> str:
    minutes = ns / 60e9
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _markers(
    name: str,
    row: str,
    colour: str,
    points: Sequence[tuple[int, str, str]],
    symbol: str | list[str],
    size: int = 9,
) -> dict[str, Any]:
    """One row's markers: ``points`` are (ts, hover text, decision id)."""
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "legendgroup": name,
        "x": [_ms(ts) for ts, _, _ in points],
        "y": [row] * len(points),
        "marker": {"color": colour, "size": size, "symbol": symbol, "line": {"width": 1, "color": colour}},
        "customdata": [decision for _, _, decision in points],
        "text": [text for _, text, _ in points],
        "hovertemplate": "%{text}<extra></extra>",
        "hoverlabel": {"align": "left"},
    }


def decision_rows(decisions: Sequence[Decision]) -> RowGroup | None:
    """One row per action the strategy took, each decision a tick; hover for its reason."""
    if not decisions:
        return None
    group = RowGroup("decisions")
    for action in ACTIONS:
        chosen = [d for d in decisions if d.action == action]
        if not chosen:
            continue
        row = action.replace("_", " ")
        group.rows.append(row)
        group.traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": row,
                "x": [_ms(d.ts) for d in chosen],
                "y": [row] * len(chosen),
                "marker": {
                    "color": ACTION_COLOURS[action],
                    "size": 7,
                    "symbol": "line-ns-open",
                    "line": {"width": 2},
                },
                "customdata": [d.id for d in chosen],
                "text": [f"{d.reason} [{d.status}]" for d in chosen],
                "hovertemplate": "%{text}<extra>%{y}</extra>",
            }
        )
    return group


def emergency_lines(event: EmergencyAction) -> list[str]:
    sources = [
        f"  · {s.name}: available {s.available_usd:,.2f}, used {s.used_usd:,.2f}"
        + (f" ({s.note})" if s.note else "")
        for s in event.sources
    ]
    return [
        f"emergency {event.protocol} at {event.venue}, {_when(event.ts)}",
        f"trigger: {event.trigger}",
        f"shortfall: {event.shortfall_usd:,.2f} USD",
        "sources (USD), in order:",
        *sources,
        f"action: {event.action}",
    ]


def liquidation_lines(event: Liquidated) -> list[str]:
    changes = ", ".join(f"{c.instrument} {c.delta:+,.6g}" for c in event.changes)
    return [
        f"liquidated at {event.venue}, {_when(event.ts)}",
        f"penalty {event.penalty:,.6g} {event.penalty_asset}",
        f"changes: {changes}",
    ]


def verdict_lines(event: RebalanceAssessed) -> list[str]:
    breaks_even = "never" if event.break_even_days is None else f"{event.break_even_days:,.1f} days"
    return [
        f"{event.answer}: {event.proposal}, {_when(event.ts)}",
        *(f"  · {r}" for r in event.reasons),
        f"yield {event.yield_before_usd:,.2f} → {event.yield_after_usd:,.2f} USD a year; cost {event.cost_usd:,.2f} USD",
        f"gain {event.gain_usd:,.2f} USD over {event.horizon_days:g} days (margin {event.margin:g}); "
        f"breaks even in {breaks_even}",
        *([f"required by {event.required_by}"] if event.required_by else []),
    ]


def move_lines(move: Move) -> list[str]:
    if move.completed is not None:
        arrived = f"completed {_when(move.completed)} ({_duration(move.completed - move.sent)})"
    elif move.status == "in flight":
        arrived = "no completion in the log"
    else:
        arrived = f"{move.status}" + (f": {move.detail}" if move.detail else "")
    return [
        f"{move.kind} at {move.venue}: {move.describe()}",
        f"sent {_when(move.sent)}; {arrived}" + (f"; fee {move.fee:,.6g}" if move.fee else ""),
    ]


def event_lines(event: EmergencyAction | RebalanceAssessed | Liquidated) -> list[str]:
    """What a flagged event says, line by line (plain text)."""
    match event:
        case EmergencyAction():
            return emergency_lines(event)
        case RebalanceAssessed():
            return verdict_lines(event)
        case Liquidated():
            return liquidation_lines(event)


def _flagged_rows(
    group: RowGroup,
    rows: Iterable[tuple[str, str, str, list[Flagged[Any]]]],
    symbol: str,
) -> None:
    for row, name, colour, chosen in rows:
        if not chosen:
            continue
        group.rows.append(row)
        points = [(f.event.ts, _lines(*event_lines(f.event)), f.decision) for f in chosen]
        group.traces.append(_markers(name, row, colour, points, symbol))


def emergency_rows(log: ReportLog) -> RowGroup | None:
    """One row per emergency protocol (in priority order) and one for liquidations."""
    if not log.emergencies and not log.liquidations:
        return None
    group = RowGroup("emergency actions")
    known = [*PROTOCOLS, *sorted({e.event.protocol for e in log.emergencies} - set(PROTOCOLS))]
    _flagged_rows(
        group,
        (
            (
                p.replace("_", " "),
                f"emergency: {p}",
                PROTOCOL_COLOURS.get(p, OTHER_COLOUR),
                [e for e in log.emergencies if e.event.protocol == p],
            )
            for p in known
        ),
        "diamond",
    )
    _flagged_rows(group, [(LIQUIDATION, LIQUIDATION, "#000000", list(log.liquidations))], "x")
    return group


def verdict_rows(log: ReportLog) -> RowGroup | None:
    """One row per answer of the rebalancing optimizer."""
    if not log.verdicts:
        return None
    group = RowGroup("optimizer verdicts")
    _flagged_rows(
        group,
        (
            (a, f"verdict: {a}", ANSWER_COLOURS[a], [v for v in log.verdicts if v.event.answer == a])
            for a in ANSWERS
        ),
        "circle",
    )
    return group


def move_rows(moves: Sequence[Move]) -> RowGroup | None:
    """Transfers one row per asset, then one row per kind of on-chain move. A marker when it was sent
    (filled when it completed, open while in flight, a cross when refused or failed) and a bar to when it
    completed."""
    if not moves:
        return None
    group = RowGroup("transfers and on-chain moves")
    assets = sorted(
        {m.asset for m in moves if m.kind == "transfer"}, key=lambda a: (a not in ASSET_COLOURS, a)
    )
    rows = [
        (
            f"transfer {a}",
            ASSET_COLOURS.get(a, OTHER_COLOUR),
            [m for m in moves if m.kind == "transfer" and m.asset == a],
        )
        for a in assets
    ] + [(k, ONCHAIN_COLOURS[k], [m for m in moves if m.kind == k]) for k in ONCHAIN]
    for row, colour, chosen in rows:
        if not chosen:
            continue
        group.rows.append(row)
        spans = [m for m in chosen if m.completed is not None and m.completed > m.sent]
        if spans:
            group.traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{row} in flight",
                    "legendgroup": row,
                    "showlegend": False,
                    "x": [x for m in spans for x in (_ms(m.sent), _ms(m.completed or m.sent), None)],
                    "y": [y for _ in spans for y in (row, row, None)],
                    "line": {"color": colour, "width": 4},
                    "opacity": 0.45,
                    "hoverinfo": "skip",
                }
            )
        symbols = [
            "triangle-right"
            if m.completed is not None
            else "triangle-right-open"
            if m.status == "in flight"
            else "x"
            for m in chosen
        ]
        points = [(m.sent, _lines(*move_lines(m)), m.decision) for m in chosen]
        group.traces.append(_markers(row, row, colour, points, symbols, size=8))
    return group


def timeline(log: ReportLog) -> list[RowGroup]:
    """The row groups the run has, top to bottom."""
    groups = (decision_rows(log.decisions), emergency_rows(log), verdict_rows(log), move_rows(log.moves))
    return [g for g in groups if g is not None]
