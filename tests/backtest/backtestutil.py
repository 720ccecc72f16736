"""Helpers of the backtest acceptance tests.

Everything here that computes an *expected* number reads the shipped CSV files with the ``csv`` module
(no basis loader, feed or monitor), so the tests check the backtest against an independent reading of
the data. What a run did (its fills, its flows) is read back from the run's own event log.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from basis.bus.codec import decode
from basis.bus.messages import Message
from basis.bus.store import open_store
from basis.data import DATA_ROOT

NS = 1_000_000_000
HOUR_NS = 3_600 * NS
MODES = (
    "pure_lending_usdt",
    "btc_basis",
    "eth_basis",
    "eth_staking_only",
    "eth_leveraged",
    "usdt_eth_staking_hedged_simple",
    "usdt_eth_staking_hedged_leveraged",
)
DATA_END = "2025-07-01T00:00:00Z"
"""Every shipped series stops before this instant (data/README.md)."""

CONTRACT_KEYS = (
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
    "sortino",
    "calmar",
    "volatility",
    "time_in_market",
    "turnover",
    "cost_to_yield",
    "funding_by_venue",
    "monthly_returns",
    "attribution",
    "events",
    "log_digest",
    "wall_seconds",
)
ATTRIBUTION_KEYS = (
    "funding",
    "lending_interest",
    "borrow_cost",
    "staking",
    "price",
    "trading_fees",
    "gas",
    "rewards",
)

CLI_TIMEOUT_S = 300


# --- the command line ---------------------------------------------------------------------------


def basis_command() -> list[str]:
    """How to start the ``basis`` console script of the interpreter running the tests."""
    script = Path(sys.executable).parent / "basis"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from basis.cli import main; main()"]


def cli_env() -> dict[str, str]:
    """The test process's environment without settings that would redirect the commands under test."""
    env = dict(os.environ)
    env.pop("BASIS_STORE_URL", None)
    return env


def start_cli(args: Sequence[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*basis_command(), *args],
        cwd=cwd,
        env=cli_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True, slots=True)
class Finished:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def explain(self) -> str:
        return (
            f"basis {' '.join(self.args)} -> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


def finish(process: subprocess.Popen[str], args: Sequence[str]) -> Finished:
    try:
        stdout, stderr = process.communicate(timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return Finished(tuple(args), process.returncode, stdout, stderr)


def run_cli(args: Sequence[str], cwd: Path) -> Finished:
    return finish(start_cli(args, cwd), args)


@dataclass(frozen=True, slots=True)
class FullRun:
    mode: str
    cwd: Path
    result: Finished

    @property
    def out(self) -> Path:
        return self.cwd / "out"

    @property
    def store_url(self) -> str:
        """Where ``basis backtest`` writes its log by default: ``OUT/events.sqlite``."""
        return sqlite_url(self.out / "events.sqlite")

    @property
    def summary(self) -> dict[str, Any]:
        assert self.result.returncode == 0, self.result.explain()
        return load_summary(self.out)

    @property
    def run_id(self) -> str:
        return str(self.summary["run_id"])


# --- times ----------------------------------------------------------------------------------------


def utc_ns(text: str) -> int:
    """``2024-06-01`` or ``2024-06-01T08:00:00Z`` -> ns since the epoch, UTC."""
    if "T" not in text:
        text += "T00:00:00Z"
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return int(moment.timestamp()) * NS


# --- the shipped CSV files, read directly ---------------------------------------------------------


def read_rows(relative: str, root: Path = DATA_ROOT) -> list[dict[str, str]]:
    path = root / relative
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


class Closes:
    """The closes of an hourly bar file, keyed by the time each bar closes (open time + 1 h)."""

    def __init__(self, relative: str) -> None:
        rows = read_rows(relative)
        self.relative = relative
        self.times = [utc_ns(r["timestamp"]) + HOUR_NS for r in rows]
        self.values = [float(r["close"]) for r in rows]
        assert self.times == sorted(self.times), relative

    def index_at_or_before(self, ts: int) -> int:
        i = bisect.bisect_right(self.times, ts) - 1
        assert i >= 0, f"{self.relative}: no bar closes at or before {ts}"
        return i

    def at_or_before(self, ts: int) -> float:
        """Close of the bar that closes at or before ``ts`` (a hole is held at the last close)."""
        return self.values[self.index_at_or_before(ts)]

    def hole_at(self, ts: int) -> tuple[int, int] | None:
        """The hole ``ts`` lies in, as the closes on either side (``ts`` after the last close before a
        missing hourly bar, and before the next close); None outside holes."""
        i = self.index_at_or_before(ts)
        if self.times[i] == ts or i + 1 >= len(self.times):
            return None
        if self.times[i + 1] - self.times[i] > HOUR_NS:
            return self.times[i], self.times[i + 1]
        return None

    def covers(self, start: int, end: int) -> bool:
        """A close at or before ``start``, one at or after ``end``, and no hole in between."""
        i = bisect.bisect_right(self.times, start) - 1
        j = bisect.bisect_left(self.times, end)
        if i < 0 or j >= len(self.times):
            return False
        return all(b - a <= HOUR_NS for a, b in zip(self.times[i:j], self.times[i + 1 : j + 1], strict=True))


class Mark:
    """A perp mark: the venue's own bar closes, or inside any hole of them another venue's (the gap rule of
    basis/backtest/gaps.py: the first of ``fallbacks`` with no hole of its own there, else the first),
    scaled so that it starts from the venue's own last close before the hole."""

    def __init__(self, own: Closes, *fallbacks: Closes) -> None:
        self.own, self.fallbacks = own, fallbacks

    def at(self, ts: int) -> float:
        hole = self.own.hole_at(ts) if self.fallbacks else None
        if hole is None:
            return self.own.at_or_before(ts)
        fallback = next((f for f in self.fallbacks if f.covers(*hole)), self.fallbacks[0])
        start = hole[0]
        i = fallback.index_at_or_before(start)
        scale = self.own.at_or_before(start) / fallback.values[i] if fallback.times[i] == start else 1.0
        return fallback.at_or_before(ts) * scale


def perp_marks(symbol: str) -> dict[str, Mark]:
    """Mark of each hedge venue's ``symbol`` perp, as the venue configs and data/README.md describe it.

    OKX has no BTCUSDT perp bars: its venue config marks it to Binance's BTCUSDT perp. Binance's files
    miss a day every ~41 days (marked to Bybit's perp) and OKX's ETHUSDT perp file has two 30-day holes
    (marked to Binance's perp, or Bybit's where Binance's has a hole too).
    """
    binance = Closes(f"cex/binance/{symbol}_perp_1h.csv.gz")
    bybit = Closes(f"cex/bybit/{symbol}_perp_1h.csv.gz")
    if symbol == "BTCUSDT":
        okx = Mark(binance, bybit)
    else:
        okx = Mark(Closes(f"cex/okx/{symbol}_perp_1h.csv.gz"), binance, bybit)
    return {"binance": Mark(binance, bybit), "bybit": Mark(bybit), "okx": okx}


def funding_rows(venue: str, symbol: str, start: int, end: int) -> list[tuple[int, float]]:
    """``(settlement time, rate)`` of the venue's funding file inside ``[start, end)``."""
    rows = read_rows(f"cex/{venue}/{symbol}_funding.csv")
    rates = ((utc_ns(r["timestamp"]), float(r["funding_rate"])) for r in rows)
    return [(ts, rate) for ts, rate in rates if start <= ts < end]


def first_event_ns(relative: str) -> int:
    """When a series first has a value: a bar's close, a funding or daily row's time, a gas block's time."""
    rows = read_rows(relative)
    if relative.endswith("_1h.csv.gz") and "gas/" not in relative:
        return utc_ns(rows[0]["timestamp"]) + HOUR_NS
    if relative.startswith("gas/"):
        return int(rows[0]["block_timestamp"]) * NS
    return utc_ns(rows[0]["timestamp"])


# --- the run's event log --------------------------------------------------------------------------


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def read_log(store_url: str, run_id: str, subject: str | None = None) -> Iterator[tuple[int, str, Message]]:
    """``(position, subject, message)`` of a run, in log order."""
    with open_store(store_url) as store:
        for record in store.read(run_id=run_id, subject=subject):
            yield record.position, record.subject, decode(record.data)


def message_count(store_url: str, run_id: str) -> int:
    with open_store(store_url) as store:
        info = store.run_info(run_id)
        assert info is not None, f"run {run_id} is not in {store_url}"
        return info.messages


def load_summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def reconciliation_gap(summary: dict[str, Any]) -> tuple[float, float]:
    """(Σ attribution − (final − initial − net flows), tolerance 1e-6 × equity)."""
    explained = sum(summary["attribution"].values())
    change = summary["final_equity"] - summary["initial_equity"] - summary["net_flows"]
    scale = max(abs(summary["final_equity"]), abs(summary["initial_equity"]))
    return explained - change, 1e-6 * scale
