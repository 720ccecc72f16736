"""A grid of backtests of one mode, each combination in its own process, store and output folder; the
figures of every combination in one table (``sweep.csv`` and a self-contained ``sweep.html``).

The grid is the cartesian product of its axes (``KEY=V1,V2,...``, KEY a mode key as ``--set`` takes it,
each value read as YAML); the first axis varies slowest. Every combination is checked as a backtest
before anything runs (its config, its strategy's parameters, the window, the data), so a value the mode
refuses stops the sweep at once. A combination that fails while running is listed with the first line
of its error (the full traceback is in its folder's ``error.txt``); the others complete.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import dataclasses
import html
import itertools
import multiprocessing
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from basis.components.feed import DataError
from basis.configs import ConfigError, parse_overrides

from .compare import FRACTIONS
from .errors import BacktestError
from .request import BacktestRequest
from .run import Backtest

FIGURES = (
    "apy",
    "pnl",
    "max_drawdown",
    "sharpe",
    "sortino",
    "calmar",
    "volatility",
    "cost_to_yield",
    "time_in_market",
    "turnover",
    "initial_equity",
    "final_equity",
    "events",
    "log_digest",
    "run_id",
)
"""The columns taken from each combination's ``summary.json`` (docs/summary.md), in table order."""
TIMES = ("started", "finished", "seconds")
"""When each combination ran (UTC) and its wall time: runs that overlap ran side by side."""
TABLE_CSV = "sweep.csv"
TABLE_HTML = "sweep.html"
OK, FAILED = "ok", "failed"


class SweepError(BacktestError):
    """A sweep cannot run as asked (its grid, its workers, or one of its combinations as a backtest)."""


@dataclass(frozen=True, slots=True)
class Axis:
    """One ``--grid``: a mode key and its values, as written and as read."""

    key: str
    texts: tuple[str, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Combination:
    index: int
    """1-based, in grid order."""
    settings: tuple[tuple[str, str], ...]
    """``(key, value as written)`` per axis."""
    request: BacktestRequest

    @property
    def label(self) -> str:
        return " ".join(f"{key}={text}" for key, text in self.settings)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one combination's run gave: its summary, or the first line of its error."""

    combination: Combination
    started: float
    """Unix time, seconds."""
    finished: float
    summary: dict[str, Any] | None
    error: str | None

    @property
    def status(self) -> str:
        return OK if self.error is None else FAILED


# --- the grid -------------------------------------------------------------------------------------


_OPENERS = {"[": "]", "{": "}"}


def split_values(text: str) -> list[str]:
    """``"0.02,[a, b],{x: 1, y: 2}"`` -> ``["0.02", "[a, b]", "{x: 1, y: 2}"]``: commas inside brackets,
    braces or quotes belong to the value."""
    values: list[str] = []
    closers: list[str] = []
    quote = ""
    current: list[str] = []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _OPENERS:
            closers.append(_OPENERS[char])
        elif char in _OPENERS.values():
            if not closers or closers.pop() != char:
                raise ValueError(f"unbalanced {char!r}")
        elif char == "," and not closers:
            values.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if quote:
        raise ValueError(f"unclosed {quote}")
    if closers:
        raise ValueError(f"unclosed {'[' if closers[-1] == ']' else '{'}")
    values.append("".join(current).strip())
    return values


def parse_grid(items: Sequence[str], fixed: Iterable[str] = ()) -> list[Axis]:
    """Each ``KEY=V1,V2,...`` of ``items`` as an :class:`Axis`; :class:`SweepError` naming what is wrong
    (syntax, an empty value, a value twice, a key twice or also in ``fixed``, the ``--set`` keys)."""
    if not items:
        raise SweepError("--grid is required: give at least one KEY=V1,V2,...")
    axes: list[Axis] = []
    fixed = set(fixed)
    for item in items:
        key, separator, raw = item.partition("=")
        key = key.strip()
        if not separator or not key:
            raise SweepError(f"--grid {item!r}: write KEY=V1,V2,... (a mode key, as --set takes it)")
        try:
            texts = split_values(raw)
        except ValueError as exc:
            raise SweepError(f"--grid {key}: {exc} in {raw!r}") from None
        if any(not t for t in texts):
            raise SweepError(f"--grid {key}: an empty value in {raw!r}")
        twice = next((t for n, t in enumerate(texts) if t in texts[:n]), None)
        if twice is not None:
            raise SweepError(f"--grid {key}: the value {twice} is given twice")
        if key in fixed:
            raise SweepError(f"--grid {key}: the key is also given with --set")
        if any(a.key == key for a in axes):
            raise SweepError(f"--grid {key}: the key is given twice")
        try:
            values = tuple(parse_overrides([f"{key}={t}"])[key] for t in texts)
        except ConfigError as exc:
            raise SweepError(f"--grid {key}: {exc}") from None
        axes.append(Axis(key, tuple(texts), values))
    return axes


def _folder_name(index: int, width: int, settings: Sequence[tuple[str, str]]) -> str:
    """``03-0.05_binance-0.4-bybit-0.3-okx-0.3``: the index, then the values (the table names the keys)."""
    text = "_".join(re.sub(r"[^A-Za-z0-9.+-]+", "-", value).strip("-") for _, value in settings)
    return f"{index:0{width}d}-{text[:60].rstrip('-_.')}"


def combinations(axes: Sequence[Axis], base: BacktestRequest) -> list[Combination]:
    """The cartesian product of ``axes`` (the first varies slowest), each a copy of ``base`` with its values
    added to the overrides and its own output folder under ``base.out``."""
    product = list(itertools.product(*(tuple(zip(a.texts, a.values, strict=True)) for a in axes)))
    width = len(str(len(product)))
    result = []
    for index, picks in enumerate(product, 1):
        settings = tuple((a.key, text) for a, (text, _) in zip(axes, picks, strict=True))
        overrides = {**base.overrides, **{a.key: value for a, (_, value) in zip(axes, picks, strict=True)}}
        out = Path(base.out) / _folder_name(index, width, settings)
        request = dataclasses.replace(base, overrides=overrides, out=out, store=None, run_id=None)
        result.append(Combination(index, settings, request))
    return result


def check(combos: Sequence[Combination]) -> None:
    """Prepare every combination as a backtest (nothing runs, nothing is written); :class:`SweepError`
    naming the first combination that cannot run and why."""
    for combo in combos:
        try:
            Backtest(combo.request)
        except (ConfigError, BacktestError, DataError, OSError) as exc:
            why = " ".join(str(exc).split()) or type(exc).__name__
            raise SweepError(f"combination {combo.index} ({combo.label}): {why}") from None


def default_workers(count: int) -> int:
    return max(1, min(count, os.cpu_count() or 1))


# --- running --------------------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if isinstance(exc, (ConfigError, BacktestError, DataError, OSError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_combination(request: BacktestRequest) -> tuple[float, float, dict[str, Any] | None, str | None]:
    """One backtest in this process: ``(started, finished, summary or None, error or None)``. The
    traceback of an error goes to ``OUT/error.txt``."""
    started = time.time()
    try:
        summary = asyncio.run(Backtest(request).run())
    except Exception as exc:
        finished = time.time()
        out = Path(request.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.txt").write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        return started, finished, None, _first_line(exc)
    return started, time.time(), summary, None


def _context() -> Any:
    """Fork where the platform has it: workers inherit the imported modules and the warm caches of the
    checks; spawn elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run_sweep(
    combos: Sequence[Combination],
    workers: int,
    on_finished: Callable[[Outcome, int], None] | None = None,
) -> list[Outcome]:
    """Run every combination on ``workers`` processes; ``on_finished(outcome, done)`` as each one ends.
    Returns the outcomes in grid order."""
    if workers < 1:
        raise SweepError(f"--workers must be at least 1, got {workers}")
    outcomes: dict[int, Outcome] = {}
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        futures = {pool.submit(run_combination, c.request): c for c in combos}
        for future in concurrent.futures.as_completed(futures):
            combo = futures[future]
            try:
                started, finished, summary, error = future.result()
            except Exception as exc:  # the worker process itself died
                now = time.time()
                started, finished, summary, error = now, now, None, _first_line(exc)
            outcome = Outcome(combo, started, finished, summary, error)
            outcomes[combo.index] = outcome
            if on_finished is not None:
                on_finished(outcome, len(outcomes))
    return [outcomes[c.index] for c in combos]


# --- the table ------------------------------------------------------------------------------------


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def columns(axes: Sequence[Axis]) -> list[str]:
    return ["combination", *(a.key for a in axes), "status", *FIGURES, "run_dir", *TIMES, "error"]


def rows(axes: Sequence[Axis], outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One row per combination: its grid values as written, its figures (None where it has none)."""
    table = []
    for outcome in outcomes:
        combo = outcome.combination
        summary = outcome.summary or {}
        row: dict[str, Any] = {"combination": combo.index, **dict(combo.settings), "status": outcome.status}
        row.update({name: summary.get(name) for name in FIGURES})
        row["run_dir"] = str(combo.request.out)
        row["started"] = _iso(outcome.started)
        row["finished"] = _iso(outcome.finished)
        row["seconds"] = round(outcome.finished - outcome.started, 3)
        row["error"] = outcome.error
        table.append(row)
    return table


def write_csv(path: Path, axes: Sequence[Axis], outcomes: Sequence[Outcome]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns(axes))
        writer.writeheader()
        for row in rows(axes, outcomes):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "—" if name != "error" else ""
    if isinstance(value, float) and name in FIGURES:
        return f"{value:.4%}" if name in FRACTIONS else f"{value:,.4f}"
    if isinstance(value, int) and not isinstance(value, bool) and name in FIGURES:
        return f"{value:,}"
    if name == "log_digest":
        return str(value)[:16]
    return str(value)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2430}}
h1{{font-size:20px;margin:0 0 4px}} p{{margin:2px 0;color:#555}}
table{{border-collapse:collapse;margin-top:16px}}
th,td{{padding:4px 10px;border-bottom:1px solid #e3e6ea;white-space:nowrap}}
th{{background:#f4f6f8;cursor:pointer;position:sticky;top:0;text-align:left}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}}
tr.failed td{{background:#fdecec}} td.error{{color:#a21;white-space:normal;max-width:40em}}
th.grid,td.grid{{background:#eef4fb}}
</style></head><body>
<h1>{title}</h1>
{facts}
<table id="sweep"><thead><tr>{header}</tr></thead><tbody>
{body}
</tbody></table>
<script>
document.querySelectorAll("#sweep th").forEach(function (th, col) {{
  th.title = "sort";
  th.addEventListener("click", function () {{
    var body = document.querySelector("#sweep tbody");
    var rows = Array.prototype.slice.call(body.rows);
    var up = th.dataset.order !== "up";
    th.dataset.order = up ? "up" : "down";
    function key(row) {{
      var text = row.cells[col].dataset.v;
      var n = parseFloat(text);
      return isNaN(n) ? text : n;
    }}
    rows.sort(function (a, b) {{
      var x = key(a), y = key(b);
      var c = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === "number" ? -1 : 1;
      return up ? c : -c;
    }});
    rows.forEach(function (row) {{ body.appendChild(row); }});
  }});
}});
</script>
</body></html>
"""


def render_html(mode: str, facts: Sequence[str], axes: Sequence[Axis], outcomes: Sequence[Outcome]) -> str:
    """The table as one self-contained page (no external file; columns sort on a click)."""
    names = columns(axes)
    grid = {a.key for a in axes}
    header = "".join(
        f'<th class="grid">{html.escape(n)}</th>' if n in grid else f"<th>{html.escape(n)}</th>"
        for n in names
    )
    lines = []
    for row in rows(axes, outcomes):
        cells = []
        for name in names:
            value = row[name]
            sort_key = "" if value is None else str(value)
            classes = "grid" if name in grid else ("error" if name == "error" else "")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                classes = (classes + " n").strip()
            text = html.escape(_shown(name, value))
            if name == "run_dir" and (Path(value) / "report.html").is_file():
                text = f'<a href="{html.escape(Path(value).name)}/report.html">{text}</a>'
            attrs = f' class="{classes}"' if classes else ""
            cells.append(f'<td{attrs} data-v="{html.escape(sort_key)}">{text}</td>')
        status = row["status"]
        lines.append(f'<tr class="{status}">{"".join(cells)}</tr>')
    title = f"basis sweep: {mode}, {len(outcomes)} combinations"
    facts_html = "\n".join(f"<p>{html.escape(f)}</p>" for f in facts)
    return _PAGE.format(title=html.escape(title), facts=facts_html, header=header, body="\n".join(lines))


def write_table(
    out: Path, mode: str, facts: Sequence[str], axes: Sequence[Axis], outcomes: Sequence[Outcome]
) -> tuple[Path, Path]:
    """``OUT/sweep.csv`` and ``OUT/sweep.html``."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out / TABLE_CSV, out / TABLE_HTML
    write_csv(csv_path, axes, outcomes)
    html_path.write_text(render_html(mode, facts, axes, outcomes), encoding="utf-8")
    return csv_path, html_path


def describe(outcome: Outcome) -> str:
    """The progress line's text of one finished combination."""
    combo = outcome.combination
    seconds = outcome.finished - outcome.started
    if outcome.summary is None:
        return f"FAILED  {combo.label}  {seconds:.1f}s  error: {outcome.error}"
    s = outcome.summary
    figures = "  ".join(
        f"{label} {_shown(name, s.get(name))}"
        for label, name in (("apy", "apy"), ("pnl", "pnl"), ("max dd", "max_drawdown"), ("sharpe", "sharpe"))
    )
    return f"ok  {combo.label}  {figures}  {seconds:.1f}s"
