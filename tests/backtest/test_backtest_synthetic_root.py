"""A backtest on a synthetic data root alone (``bundled_data=False``): the benchmark's 10x job."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from basis.backtest import Backtest, BacktestError, BacktestRequest
from basis.components.feed import parse_utc
from basis.components.feed.synthetic import write_synthetic, write_synthetic_gas

START, END = parse_utc("2030-01-01T00:00:00Z"), parse_utc("2030-01-06T00:00:00Z")
BINANCE_ONLY = {"hedge_venues": ["binance"], "hedge_allocation": {"binance": 1.0}}


def synthetic_root(root: Path) -> Path:
    write_synthetic(
        root, start=START, end=END, venue="binance", symbols={"BTCUSDT": 42_000.0}, interval_s=3_600
    )
    write_synthetic(root, start=START, end=END, venue="bybit", symbols={"ETHUSDT": 2_300.0}, interval_s=3_600)
    write_synthetic_gas(root, start=START, end=END)
    return root


def test_btc_basis_runs_on_a_synthetic_root_only(tmp_path: Path) -> None:
    root = synthetic_root(tmp_path / "data")
    request = BacktestRequest(
        mode="btc_basis",
        overrides=BINANCE_ONLY,
        data=[root],
        bundled_data=False,
        out=tmp_path / "out",
        report=False,
    )
    backtest = Backtest(request)
    assert backtest.roots == [root]
    assert all(str(f).startswith(str(root)) for c in backtest.coverage for f in c.files)
    summary = asyncio.run(backtest.run())
    assert (summary["start"], summary["end"]) == ("2030-01-01T01:00:00Z", "2030-01-06T00:00:00Z")
    assert summary["market_data_events"] > 4 * 24 * 3
    assert summary["attribution"]["funding"] != 0.0
    assert backtest.replay_seconds is not None and backtest.replay_seconds > 0


def test_without_the_bundled_data_a_root_is_required() -> None:
    with pytest.raises(BacktestError, match="no data root"):
        Backtest(BacktestRequest(mode="btc_basis", bundled_data=False))
