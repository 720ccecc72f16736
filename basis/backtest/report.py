"""``report.html``: one self-contained page (no network) with the run's charts and instructions.

The data is embedded as JSON; a small script draws each chart as SVG when the page loads, so the
page works offline and a browser test can count the plotted points.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .metrics import DailySample

_SCRIPT = r"""
const DATA = JSON.parse(document.getElementById('run-data').textContent);
const COLORS = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'];
function chart(id, title, series) {
  const host = document.getElementById(id);
  const W = 900, H = 260, L = 70, R = 150, T = 24, B = 30;
  const xs = DATA.t;
  let lo = Infinity, hi = -Infinity;
  for (const s of series) for (const v of s.values) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!isFinite(lo)) { host.innerHTML = '<p class="empty">' + title + ': no data</p>'; return; }
  if (hi === lo) { hi += 1; lo -= 1; }
  const x0 = xs[0], x1 = xs[xs.length - 1] === x0 ? x0 + 1 : xs[xs.length - 1];
  const X = t => L + (t - x0) / (x1 - x0) * (W - L - R);
  const Y = v => T + (hi - v) / (hi - lo) * (H - T - B);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`); svg.setAttribute('class', 'chart'); svg.setAttribute('data-chart', id);
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; svg.appendChild(e); return e; };
  add('text', {x: L, y: 16, class: 'title'}, title);
  for (let i = 0; i <= 4; i++) { const v = lo + (hi - lo) * i / 4;
    add('line', {x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: 'grid'});
    add('text', {x: L - 6, y: Y(v) + 4, class: 'axis', 'text-anchor': 'end'}, v.toPrecision(6)); }
  add('text', {x: L, y: H - 8, class: 'axis'}, new Date(x0).toISOString().slice(0, 10));
  add('text', {x: W - R, y: H - 8, class: 'axis', 'text-anchor': 'end'}, new Date(x1).toISOString().slice(0, 10));
  series.forEach((s, k) => {
    const pts = [];
    s.values.forEach((v, i) => { if (v !== null) pts.push(X(xs[i]).toFixed(1) + ',' + Y(v).toFixed(1)); });
    const line = add('polyline', {points: pts.join(' '), fill: 'none', stroke: COLORS[k % COLORS.length],
      'stroke-width': 1.5, class: 'series', 'data-points': pts.length, 'data-name': s.name});
    add('text', {x: W - R + 8, y: T + 14 * (k + 1), fill: COLORS[k % COLORS.length], class: 'legend'}, s.name);
  });
  host.appendChild(svg);
}
chart('equity', 'Equity (' + DATA.share_class + ')', [{name: 'equity', values: DATA.equity}]);
chart('attribution', 'Cumulative attribution (' + DATA.share_class + ')',
      Object.keys(DATA.attribution).map(k => ({name: k, values: DATA.attribution[k]})));
chart('risk', 'Risk', Object.keys(DATA.risk).map(k => ({name: k, values: DATA.risk[k]})));
document.body.setAttribute('data-rendered', 'yes');
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 12px; } td, th { border: 1px solid #ddd; padding: 3px 6px; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
svg.chart { width: 100%; max-width: 980px; height: auto; display: block; }
.title { font-size: 13px; font-weight: 600; } .axis, .legend { font-size: 11px; } .grid { stroke: #eee; }
"""


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _shown(key: str, value: Any) -> str:
    if isinstance(value, float):
        if key in ("apy", "max_drawdown"):
            return f"{value:.4%}"
        if key == "sharpe":
            return f"{value:.2f}"
        return f"{value:,.6f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(
    summary: dict[str, Any],
    samples: Sequence[DailySample],
    instructions: Sequence[dict[str, Any]],
    instructions_total: int,
) -> str:
    """The page as a string."""
    attribution_keys = sorted({k for s in samples for k in s.attribution})
    risk_keys = sorted({k for s in samples for k in s.risk})
    data = {
        "share_class": summary.get("share_class", ""),
        "t": [s.ts // 1_000_000 for s in samples],
        "equity": [s.equity for s in samples],
        "attribution": {k: [s.attribution.get(k, 0.0) for s in samples] for k in attribution_keys},
        "risk": {k: [s.risk.get(k) for s in samples] for k in risk_keys},
    }
    rows = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="l">{html.escape(str(v))}</td>' if i < 4 else f"<td>{html.escape(str(v))}</td>"
            for i, v in enumerate((_iso(r["ts"]), r["venue"], r["kind"], r["detail"], r["status"]))
        )
        + "</tr>"
        for r in instructions
    )
    head = {
        k: summary.get(k)
        for k in (
            "mode",
            "share_class",
            "start",
            "end",
            "initial_equity",
            "final_equity",
            "net_flows",
            "pnl",
            "apy",
            "max_drawdown",
            "sharpe",
            "events",
            "log_digest",
        )
    }
    summary_rows = "\n".join(
        f'<tr><th class="l">{html.escape(k)}</th><td class="l">{html.escape(_shown(k, v))}</td></tr>'
        for k, v in head.items()
    )
    attribution_rows = "\n".join(
        f'<tr><th class="l">{html.escape(k)}</th><td>{v:,.6f}</td></tr>'
        for k, v in summary.get("attribution", {}).items()
    )
    shown = (
        f"{len(instructions)} of {instructions_total}"
        if instructions_total > len(instructions)
        else str(instructions_total)
    )
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>basis backtest: {html.escape(str(summary.get("mode")))}</title>
<style>{_STYLE}</style></head>
<body>
<h1>basis backtest: {html.escape(str(summary.get("mode")))}</h1>
<table>{summary_rows}</table>
<h2>Attribution ({html.escape(str(summary.get("share_class")))})</h2>
<table>{attribution_rows}</table>
<h2>Equity</h2><div id="equity"></div>
<h2>Attribution over time</h2><div id="attribution"></div>
<h2>Risk over time</h2><div id="risk"></div>
<h2>Instructions executed ({shown})</h2>
<table><tr><th class="l">time</th><th class="l">venue</th><th class="l">instruction</th><th class="l">detail</th><th>status</th></tr>
{rows}</table>
<script type="application/json" id="run-data">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
