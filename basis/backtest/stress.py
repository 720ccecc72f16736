"""Stress scenarios: the real series, shocked, replayed like any data root.

A scenario writes a copy of a data root in which the series it concerns are changed by a factor that
moves from 1 to its full value over ``ramp`` (linearly in time), stays there for ``hold`` (for ever when
None) and, after a hold, moves back to 1 over another ``ramp``; every other file is linked, not copied.
The run then replays that root instead of the bundled one, so every component sees the shock exactly as
it would see real data (the feed, the venues' prices, oracles and funding, the monitors, the strategy).

=====================  =====================================================================================
scenario               what changes
=====================  =====================================================================================
``eth_crash``          ETH's USD price × 0.70 within one day, and stays there (every ETH/USDT bar, the AAVE
                       oracle prices of WETH and the ETH-correlated reserves, the DEX's WETH/USDT pool)
``eth_spike``          the same series × 1.40 within one day, and stays there
``lst_depeg``          the staking tokens' ETH price × 0.95 within one day, held a week, then back within a
                       day (the weETH/ETH and wstETH/ETH rate series, and the tokens' AAVE oracle prices):
                       a depeg as severe as the protocol rate itself moving, the conservative case for an
                       AAVE position (AAVE prices the tokens at that rate)
``funding_negative``   every ETH perp funding rate set to −0.05% per interval (≈ −55% a year on 8 h
                       intervals) for a week: the shorts pay
=====================  =====================================================================================

Each factor applies to price columns only (open, high, low, close; oracle prices); volumes and indices are
kept. What a scenario does is described in ``summary.json`` (``stress``), with whether any position was
liquidated, so a report says plainly when a scenario was not survived.
"""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from basis.components.feed import iso, parse_utc

from .errors import BacktestError

DAY_NS = 86_400 * 1_000_000_000
Factor = Callable[[int], float]
"""The shock's factor at a time (ns)."""
Rewrite = Callable[[dict[str, str], float], None]
"""Changes one row in place by a factor."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    full: float
    """The factor at full shock (multiplicative), or the value set (``sets``)."""
    ramp_ns: int = DAY_NS
    hold_ns: int | None = None
    """How long the full shock lasts before the way back; None: it stays."""
    files: tuple[tuple[str, str], ...] = ()
    """(glob under the root, rewrite name) of the files it changes."""

    def factor(self, start: int) -> Factor:
        """The factor at each time of a shock that starts at ``start``."""
        full, ramp, hold = self.full, self.ramp_ns, self.hold_ns

        def at(ts: int) -> float:
            elapsed = ts - start
            if elapsed <= 0:
                return 1.0
            if elapsed < ramp:
                return 1.0 + (full - 1.0) * elapsed / ramp
            if hold is None or elapsed <= ramp + hold:
                return full
            back = elapsed - ramp - hold
            if back < ramp:
                return full + (1.0 - full) * back / ramp
            return 1.0

        return at

    def to_dict(self, start: int) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "description": self.description,
            "start": iso(start),
            "full": self.full,
            "ramp_hours": self.ramp_ns / 3_600e9,
            "hold_hours": None if self.hold_ns is None else self.hold_ns / 3_600e9,
        }


def _scale(*columns: str) -> Rewrite:
    def rewrite(row: dict[str, str], factor: float) -> None:
        for column in columns:
            value = row.get(column)
            if value not in (None, ""):
                row[column] = repr(float(value) * factor)

    return rewrite


def _funding_set(row: dict[str, str], factor: float) -> None:
    """``factor`` is the share of the way to the shocked rate (1 = none, 0 = all of it)."""
    rate = float(row["funding_rate"])
    row["funding_rate"] = repr(rate * factor + NEGATIVE_FUNDING * (1.0 - factor))


NEGATIVE_FUNDING = -0.0005
REWRITES: dict[str, Rewrite] = {
    "bar": _scale("open", "high", "low", "close"),
    "reserve": _scale("oracle_price_usd"),
    "oracle_usd": _scale("price_usd"),
    "lst_rate": _scale("price_eth", "weeth_price_usd", "wsteth_price_usd"),
    "funding": _funding_set,
}
ETH_PRICE_FILES = (
    ("cex/*/ETHUSDT_spot_1h.csv.gz", "bar"),
    ("cex/*/ETHUSDT_perp_1h.csv.gz", "bar"),
    ("dex/uniswap_v3/WETHUSDT_1h.csv.gz", "bar"),
    ("aave_v3/weth_reserve_daily.csv", "reserve"),
    ("aave_v3/weeth_reserve_daily.csv", "reserve"),
    ("aave_v3/wsteth_reserve_daily.csv", "reserve"),
    ("aave_v3/oracle_weth_usd_daily.csv", "oracle_usd"),
)
SCENARIOS: dict[str, Scenario] = {
    "eth_crash": Scenario("eth_crash", "ETH -30% within one day, no recovery", 0.70, files=ETH_PRICE_FILES),
    "eth_spike": Scenario("eth_spike", "ETH +40% within one day, no recovery", 1.40, files=ETH_PRICE_FILES),
    "lst_depeg": Scenario(
        "lst_depeg",
        "staking tokens -5% against ETH within one day, for a week, then back",
        0.95,
        hold_ns=7 * DAY_NS,
        files=(
            ("aave_v3/oracle_weeth_eth_daily.csv", "lst_rate"),
            ("aave_v3/oracle_wsteth_eth_daily.csv", "lst_rate"),
            ("aave_v3/weeth_reserve_daily.csv", "reserve"),
            ("aave_v3/wsteth_reserve_daily.csv", "reserve"),
        ),
    ),
    "funding_negative": Scenario(
        "funding_negative",
        "ETH perp funding at -0.05% per interval for a week",
        0.0,
        ramp_ns=1,
        hold_ns=7 * DAY_NS,
        files=(("cex/*/ETHUSDT_funding.csv", "funding"),),
    ),
}


def parse_stress(text: str) -> tuple[Scenario, int]:
    """``NAME@DATE`` (``eth_crash@2024-08-05``) → the scenario and its start (ns)."""
    name, _, when = text.partition("@")
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise BacktestError(f"--stress {text!r}: no scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    if not when:
        raise BacktestError(f"--stress {text!r}: say when it starts, e.g. {name}@2024-08-05")
    try:
        start = parse_utc(when if "T" in when else f"{when}T00:00:00Z", naive_is_utc=True)
    except ValueError as exc:
        raise BacktestError(f"--stress {text!r}: {exc}") from None
    return scenario, start


def write_stressed_root(scenario: Scenario, start: int, source: Path, dest: Path) -> Path:
    """A copy of the data root ``source`` in ``dest`` with ``scenario`` applied from ``start``; files it
    does not change are linked. Returns ``dest``."""
    factor = scenario.factor(start)
    changed: dict[Path, Rewrite] = {}
    for pattern, kind in scenario.files:
        for path in source.glob(pattern):
            changed[path.relative_to(source)] = REWRITES[kind]
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source)
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        rewrite = changed.get(relative)
        if rewrite is None:
            os.symlink(path.resolve(), target)
        else:
            _rewrite(path, target, rewrite, factor)
    return dest


def _read(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def _write(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "wt", encoding="utf-8", newline="")
    return path.open("w", encoding="utf-8", newline="")


def _rewrite(source: Path, target: Path, rewrite: Rewrite, factor: Factor) -> None:
    with _read(source) as src, _write(target) as out:
        reader = csv.DictReader(src)
        if reader.fieldnames is None or "timestamp" not in reader.fieldnames:
            raise BacktestError(f"{source}: a stressed series needs a timestamp column")
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames, lineterminator="\n")
        writer.writeheader()
        for row in reader:
            f = factor(parse_utc(row["timestamp"], naive_is_utc=True))
            if f != 1.0:
                rewrite(row, f)
            writer.writerow(row)
