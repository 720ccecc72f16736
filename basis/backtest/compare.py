"""Several runs' ``summary.json`` side by side, with the difference of each from the first.

Every figure of every summary becomes one row, nested figures with dotted names
(``attribution.funding``, ``funding_by_venue.binance.USDT``, ``monthly_returns.2024-06``), in the order
they first appear. A number that differs from the first run's shows its difference in the column after
it (fractions in percentage points); text that differs is marked ``≠``; a figure a run lacks is ``—``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import BacktestError

SKIPPED = ("window", "proxies", "gap_rules", "instructions", "store", "run_id")
"""Keys too long for a row (the run's own summary.json has them); the legend names each run's id."""
FRACTIONS = ("apy", "max_drawdown", "volatility", "time_in_market", "cost_to_yield", "monthly_returns.")
"""Figures shown as percentages (a key ending in ``.`` covers every key under it)."""
MISSING = "—"


def load_summary(run_dir: Path) -> dict[str, Any]:
    """``run_dir/summary.json``; :class:`BacktestError` naming what is wrong when it cannot be read."""
    if not run_dir.is_dir():
        raise BacktestError(f"{run_dir}: no such run directory")
    path = run_dir / "summary.json"
    if not path.is_file():
        raise BacktestError(f"{run_dir}: no summary.json (not the output folder of a basis backtest?)")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BacktestError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(summary, dict):
        raise BacktestError(f"{path}: not a summary (a JSON object is expected)")
    return summary


def flatten(summary: dict[str, Any]) -> dict[str, Any]:
    """Dotted name → value, for every figure but :data:`SKIPPED`."""
    rows: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            rows[prefix] = value

    walk("", {k: v for k, v in summary.items() if k not in SKIPPED})
    return rows


def _is_fraction(name: str) -> bool:
    return any(name == f or (f.endswith(".") and name.startswith(f)) for f in FRACTIONS)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plain(value: float, sign: str = "") -> str:
    """An int with thousands separators; a float with 4 decimals, or 3 significant digits when smaller."""
    if isinstance(value, int):
        return f"{value:{sign},}"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:{sign}.3e}"
    return f"{value:{sign},.4f}"


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "null"
    if _number(value):
        if _is_fraction(name):
            return f"{value:.4%}"
        return _plain(value)
    if name == "log_digest" and isinstance(value, str):
        return value[:16]
    return str(value)


def _difference(name: str, first: Any, other: Any) -> str:
    if other == first:
        return ""
    if _number(first) and _number(other):
        delta = other - first
        if _is_fraction(name):
            return f"{delta * 100:+.4f} pp"
        return _plain(delta, sign="+")
    return "≠"


def compare(run_dirs: Sequence[Path]) -> str:
    """The side-by-side table of the summaries in ``run_dirs`` (at least two), with a legend."""
    if len(run_dirs) < 2:
        raise BacktestError("compare needs at least two run directories")
    summaries = [load_summary(Path(d)) for d in run_dirs]
    flat = [flatten(s) for s in summaries]
    names: list[str] = []
    for rows in sorted(flat, key=len, reverse=True):  # the fullest summary sets the order
        names += [n for n in rows if n not in names]
    header = ["figure"]
    for i in range(1, len(flat) + 1):
        header += [f"[{i}]"] if i == 1 else [f"[{i}]", f"Δ [{i}]-[1]"]
    table = [header]
    for name in names:
        first = flat[0].get(name, MISSING)
        line = [name, _cell(name, first) if name in flat[0] else MISSING]
        for rows in flat[1:]:
            value = rows.get(name, MISSING)
            line.append(_cell(name, value) if name in rows else MISSING)
            both = name in flat[0] and name in rows
            line.append(_difference(name, first, value) if both else ("" if first == value else "≠"))
        table.append(line)
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    legend = [
        f"[{i}] {d}  ({s.get('run_id', '?')})"
        for i, (d, s) in enumerate(zip(run_dirs, summaries, strict=True), 1)
    ]
    lines = [
        "  ".join(
            cell.ljust(w) if c == 0 else cell.rjust(w)
            for c, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]
    return "\n".join([*legend, "", *lines]) + "\n"
