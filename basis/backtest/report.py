"""``report.html``: the run's tearsheet, one self-contained page that opens offline.

The charts are drawn by plotly.js, embedded in the page (the ``plotly.min.js`` the ``plotly`` Python
package ships, a dependency in pyproject.toml): zoom and pan, hover read-outs, a legend whose entries
hide and show their series, a PNG download per chart. Why plotly: it is widely used and maintained
(MIT), a chart is plain JSON (no Python-side figure objects needed, nothing to run on the server), and
it covers every chart here (time series with stacked panels on one zoomable axis, shaded intervals and
threshold lines with legend entries, grouped bars). bokeh needs numpy, pandas and a tornado stack in
the Python environment for the same; altair (vega-lite) has no shared-axis panels with legend-toggled
shapes. The cost is size: the full plotly.js bundle is ~4.8 MB (the wheel ships no partial bundle), so
a report is about 5 MB whatever the run's length.

What the page shows: for a stress run, its scenario and plainly whether it was survived; the headline
figures of ``summary.json``; equity with its drawdown (underwater) and below them, on one time axis, the
timeline: the strategy's decisions, its emergency actions, the optimizer's verdicts, every transfer and
on-chain move (:mod:`.report_timeline`); cumulative attribution by source; funding by
venue with each venue's realised funding APR beside its average rate; the rolling 30-day APY; the
monthly returns; the risk figures over time with their thresholds; every decision, expandable to the
instructions it sent and what became of each, and to the emergencies and verdicts it acted on; the
data's holes and proxies, also shaded on every time chart. Series and their definitions:
:mod:`.report_figures`, :mod:`.report_timeline` and :mod:`.report_log`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from .metrics import DailySample
from .report_figures import (
    attribution_figure,
    equity_figure,
    funding_figures,
    risk_figure,
    rolling_apy_figure,
)
from .report_log import Decision, ReportLog, Step, read_report_log
from .report_timeline import event_lines

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PERCENT = frozenset({"apy", "max_drawdown", "volatility", "time_in_market", "cost_to_yield"})
HEADLINE = (
    "final_equity",
    "pnl",
    "apy",
    "max_drawdown",
    "sharpe",
    "sortino",
    "calmar",
    "volatility",
    "time_in_market",
    "turnover",
    "cost_to_yield",
)


def plotly_js() -> str:
    """plotly.js as the ``plotly`` package ships it."""
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as None (JSON has no infinity; plotly leaves a hole)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _shown(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if key in PERCENT:
            return f"{value:.2%}"
        if key in ("sharpe", "sortino", "calmar", "turnover"):
            return f"{value:,.2f}"
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _e(value: Any) -> str:
    return html.escape(str(value))


def headline(summary: dict[str, Any]) -> str:
    cards = "".join(
        f'<div class="kpi"><div class="k">{_e(k.replace("_", " "))}</div>'
        f'<div class="v">{_e(_shown(k, summary.get(k)))}</div></div>'
        for k in HEADLINE
    )
    return f'<div class="kpis">{cards}</div>'


def stress_banner(summary: dict[str, Any]) -> str:
    """For a run under ``--stress``: the scenario, and whether it was survived (a liquidation anywhere
    means it was not; its loss is what the attribution puts on ``liquidation``). Empty otherwise."""
    stress = summary.get("stress")
    if not stress:
        return ""
    scenario = (
        f"Stress scenario <b>{_e(stress.get('scenario'))}</b> from {_e(stress.get('start'))}: "
        f"{_e(stress.get('description'))}."
    )
    if stress.get("liquidated"):
        loss = abs(float(stress.get("liquidation_loss") or 0.0))
        verdict = (
            f"<b>Not survived: liquidated, loss {loss:,.2f} {_e(summary.get('share_class'))} attributed to "
            "liquidation.</b>"
        )
        return f'<div class="stress not-survived">{scenario} {verdict}</div>'
    return f'<div class="stress survived">{scenario} <b>Survived</b>: nothing was liquidated.</div>'


def attribution_table(summary: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><th class="l">{_e(k)}</th><td>{v:,.6f}</td></tr>'
        for k, v in summary.get("attribution", {}).items()
        if v
    )
    return f'<table class="small"><tr><th class="l">source</th><th>{_e(summary.get("share_class"))}</th></tr>{rows}</table>'


def funding_table(log: ReportLog) -> str:
    if not log.funding:
        return '<p class="note">No funding settled in this run (no perpetual positions).</p>'
    rows = "".join(
        f'<tr><th class="l">{_e(v)}</th><td>{f.total:,.2f} {_e(f.asset)}</td><td>{len(f.times):,}</td>'
        f"<td>{_shown('apy', f.realised_apr)}</td><td>{_shown('apy', f.average_rate_apr)}</td></tr>"
        for v, f in sorted(log.funding.items())
    )
    return (
        '<table class="small"><tr><th class="l">venue</th><th>funding</th><th>settlements</th>'
        f"<th>realised APR</th><th>average rate (APR)</th></tr>{rows}</table>"
    )


def monthly_table(summary: dict[str, Any]) -> str:
    """Years down, months across, the year's compounded return last; cells coloured by sign and size."""
    monthly: dict[str, float] = summary.get("monthly_returns", {})
    if not monthly:
        return '<p class="note">No complete day in the window.</p>'
    years = sorted({m[:4] for m in monthly})
    scale = max(abs(v) for v in monthly.values()) or 1.0

    def cell(value: float | None) -> str:
        if value is None:
            return "<td></td>"
        alpha = min(1.0, abs(value) / scale) * 0.55 + 0.05
        colour = f"rgba(44,160,44,{alpha:.2f})" if value >= 0 else f"rgba(214,39,40,{alpha:.2f})"
        return f'<td style="background:{colour}">{value:+.2%}</td>'

    rows = []
    for year in years:
        values = [monthly.get(f"{year}-{m:02d}") for m in range(1, 13)]
        growth = 1.0
        for v in values:
            growth *= 1.0 + (v or 0.0)
        rows.append(
            f'<tr><th class="l">{year}</th>'
            + "".join(cell(v) for v in values)
            + f"<th>{growth - 1.0:+.2%}</th></tr>"
        )
    head = "".join(f"<th>{m}</th>" for m in MONTHS)
    return (
        f'<table class="monthly"><tr><th class="l">year</th>{head}<th>year</th></tr>{"".join(rows)}</table>'
    )


def _step(step: Step) -> str:
    outcomes = "".join(f"<li>{_e(o)}</li>" for o in step.outcomes) or "<li>no outcome in the log</li>"
    children = "".join(_step(c) for c in step.children)
    return (
        f'<li class="step {_e(step.status)}"><code>{_e(step.text)}</code> '
        f'<span class="status">{_e(step.status)}</span><ul class="outcomes">{outcomes}</ul>'
        + (f'<ol class="children">{children}</ol>' if children else "")
        + "</li>"
    )


def _decision(d: Decision) -> str:
    steps = "".join(_step(s) for s in d.steps)
    body = f'<ol class="steps">{steps}</ol>' if steps else '<p class="note">No instructions (a hold).</p>'
    if d.acted_on:
        found = "".join(
            f'<li class="flagged">{"<br>".join(_e(line) for line in event_lines(e))}</li>' for e in d.acted_on
        )
        body = f'<ul class="acted-on">{found}</ul>{body}'
    return (
        f'<details class="decision {_e(d.action)}" id="{_e(d.id)}"><summary><span class="ts">{_iso(d.ts)}</span> '
        f'<span class="action">{_e(d.action.replace("_", " "))}</span> <span class="reason">{_e(d.reason)}</span> '
        f'<span class="status">{_e(d.status)} · {len(d.steps)} instruction(s)</span></summary>{body}</details>'
    )


def decisions_html(decisions: Sequence[Decision]) -> str:
    """The decisions grouped by month, each month and each decision a ``<details>`` element."""
    months: dict[str, list[Decision]] = {}
    for d in decisions:
        months.setdefault(_iso(d.ts)[:7], []).append(d)
    parts = []
    for month, chosen in months.items():
        trades = sum(1 for d in chosen if d.steps)
        parts.append(
            f'<details class="month"><summary>{month}: {len(chosen)} decisions, {trades} with instructions'
            f"</summary>{''.join(_decision(d) for d in chosen)}</details>"
        )
    return "".join(parts) or '<p class="note">The strategy took no decision.</p>'


def data_notes(summary: dict[str, Any]) -> str:
    proxies = "".join(
        f"<li>{_e(p['venue'])} {_e(p['series'])}: marked to {_e(p['marks_to'])} for the whole window</li>"
        for p in summary.get("proxies", [])
    )
    gaps = "".join(
        f"<tr><td class='l'>{_e(g['series'])}</td><td class='l'>{_e(g['start'])}</td><td class='l'>{_e(g['end'])}</td>"
        f"<td class='l'>{_e(g['rule'])}{_e(' → ' + g['marks_to']) if g.get('marks_to') else ''}</td></tr>"
        for g in summary.get("gap_rules", [])
    )
    return (f"<p>Proxies:</p><ul>{proxies}</ul>" if proxies else "<p>No proxy series.</p>") + (
        f"<details><summary>{len(summary.get('gap_rules', []))} holes in the data, shaded on the charts</summary>"
        f'<table class="small"><tr><th class="l">series</th><th class="l">from</th><th class="l">to</th>'
        f'<th class="l">rule</th></tr>{gaps}</table></details>'
        if gaps
        else "<p>No hole in the data over the window.</p>"
    )


def render(summary: dict[str, Any], samples: Sequence[DailySample], log: ReportLog) -> str:
    """The page as a string."""
    figures: list[tuple[str, dict[str, Any] | None]] = [
        ("equity", equity_figure(summary, samples, log)),
        ("attribution", attribution_figure(summary, samples)),
        *funding_figures(summary, log),
        ("rolling-apy", rolling_apy_figure(summary, samples)),
        ("risk", risk_figure(summary, samples, log)),
    ]
    charts = {name: fig for name, fig in figures if fig is not None}
    payload = json.dumps(_finite(charts), separators=(",", ":"), allow_nan=False).replace("</", "<\\/")

    def chart(name: str, missing: str) -> str:
        return (
            f'<div class="chart" id="chart-{name}"></div>'
            if name in charts
            else f'<p class="note">{missing}</p>'
        )

    mode = _e(summary.get("mode"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>basis backtest: {mode}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_STYLE}</style></head>
<body>
<header><h1>basis backtest: {mode}</h1>
{stress_banner(summary)}
<p class="sub">{_e(summary.get("start"))} → {_e(summary.get("end"))} · share class {_e(summary.get("share_class"))} ·
initial {_shown("", summary.get("initial_equity"))} · net flows {_shown("", summary.get("net_flows"))} ·
run {_e(summary.get("run_id"))} · log digest {_e(summary.get("log_digest"))} · {_shown("", summary.get("events"))} events</p>
{headline(summary)}</header>
<section><h2>Equity and drawdown</h2>{chart("equity", "No equity series.")}</section>
<section><h2>Attribution</h2>{chart("attribution", "No attribution series.")}{attribution_table(summary)}</section>
<section><h2>Funding by venue</h2>{chart("funding", "")}{chart("funding-apr", "")}{funding_table(log)}</section>
<section><h2>Rolling APY</h2>{chart("rolling-apy", "The run is shorter than the rolling window.")}</section>
<section><h2>Monthly returns</h2>{monthly_table(summary)}</section>
<section><h2>Risk over time</h2>{chart("risk", "No risk figures in this run.")}</section>
<section id="decisions"><h2>Decisions ({len(log.decisions):,})</h2>
<p class="note">Each month, then each decision, opens to the emergencies and optimizer verdicts it acted on, the
instructions it sent (a routed instruction lists the instructions the router sent for it) and every outcome
the venues answered.</p>
{decisions_html(log.decisions)}</section>
<section><h2>Data</h2>{data_notes(summary)}</section>
<script>{plotly_js()}</script>
<script type="application/json" id="charts">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 1_000_000_000


def write_report(out: Path, summary: dict[str, Any], samples: Sequence[DailySample]) -> None:
    """``out/report.html`` for the run in ``summary`` (its log read from ``summary["store"]``)."""
    window = (_ns(summary["start"]), _ns(summary["end"]))
    log = read_report_log(summary["store"], summary["run_id"], window)
    (out / "report.html").write_text(render(summary, samples, log), encoding="utf-8")


_SCRIPT = r"""
(function () {
  const charts = JSON.parse(document.getElementById('charts').textContent);
  const config = {responsive: true, displaylogo: false, scrollZoom: false, showTips: false};
  const drawn = [];
  for (const name of Object.keys(charts)) {
    const host = document.getElementById('chart-' + name);
    drawn.push(Plotly.newPlot(host, charts[name].data, charts[name].layout, config));
  }
  const equity = document.getElementById('chart-equity');
  Promise.all(drawn).then(function () {
    if (equity) equity.on('plotly_click', function (event) {
      const id = event.points[0].customdata;
      const target = id && document.getElementById(id);
      if (!target) return;
      target.open = true;
      target.parentElement.closest('details').open = true;
      target.scrollIntoView({block: 'center'});
      target.classList.add('picked');
    });
    document.body.setAttribute('data-rendered', 'yes');
  });
})();
"""

_STYLE = """
body { font-family: system-ui, -apple-system, sans-serif; margin: 0 auto; padding: 16px 24px; max-width: 1280px; color: #222; }
h1 { font-size: 22px; margin: 4px 0; } h2 { font-size: 17px; margin: 28px 0 6px; border-bottom: 1px solid #e4e4e4; }
.sub { color: #555; font-size: 13px; margin: 2px 0 10px; }
.kpis { display: flex; flex-wrap: wrap; gap: 8px; }
.kpi { border: 1px solid #e1e1e1; border-radius: 6px; padding: 6px 10px; min-width: 96px; }
.kpi .k { font-size: 11px; color: #666; text-transform: uppercase; } .kpi .v { font-size: 17px; font-weight: 600; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
td, th { border: 1px solid #ddd; padding: 3px 7px; text-align: right; } th { background: #f6f6f6; }
td.l, th.l { text-align: left; } .note { color: #666; font-size: 13px; }
table.monthly td { min-width: 52px; }
details.month > summary { font-weight: 600; cursor: pointer; padding: 3px 0; }
details.decision { margin: 2px 0 2px 18px; font-size: 13px; }
details.decision > summary { cursor: pointer; }
details.decision.picked > summary { background: #fff3c4; }
.ts { color: #666; font-variant-numeric: tabular-nums; } .action { font-weight: 600; }
.status { color: #666; font-size: 12px; } .step.rejected > .status, .step.failed > .status { color: #d62728; font-weight: 600; }
ol.steps, ol.children { margin: 4px 0; } ul.outcomes { margin: 2px 0; color: #444; font-size: 12px; }
code { font-size: 12px; }
ul.acted-on { margin: 4px 0; font-size: 12px; color: #444; } li.flagged { margin: 2px 0; }
.stress { border-radius: 6px; padding: 8px 12px; margin: 6px 0 10px; font-size: 14px; }
.stress.survived { background: #e8f5e9; border: 1px solid #2ca02c; }
.stress.not-survived { background: #fdecea; border: 2px solid #d62728; color: #8b1a1a; font-size: 15px; }
"""
