"""Same inputs, same log: a run through the Python API and one through the command line (another
process, another hash seed) over the same short window write identical logs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from backtestutil import load_summary, run_cli, sqlite_url, utc_ns

from basis.backtest import Backtest, BacktestRequest

WINDOWS = {"btc_basis": ("2024-06-01", "2024-06-15"), "eth_basis": ("2024-08-05", "2024-08-19")}


@pytest.mark.parametrize("mode", sorted(WINDOWS))
def test_two_runs_with_the_same_inputs_have_the_same_digest(tmp_path: Path, mode: str) -> None:
    start, end = WINDOWS[mode]
    api_out = tmp_path / "api"
    summary = asyncio.run(
        Backtest(
            BacktestRequest(mode=mode, start=utc_ns(start), end=utc_ns(end), out=api_out, report=False)
        ).run()
    )
    assert load_summary(api_out)["log_digest"] == summary["log_digest"]

    args = ["backtest", "--mode", mode, "--start", start, "--end", end, "--out", "cli", "-q"]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.explain()
    again = load_summary(tmp_path / "cli")

    assert again["run_id"] == summary["run_id"]
    assert again["events"] == summary["events"]
    assert again["log_digest"] == summary["log_digest"]
    assert again["final_equity"] == summary["final_equity"]
    assert again["attribution"] == summary["attribution"]

    for out in (api_out, tmp_path / "cli"):
        store = sqlite_url(out / "events.sqlite")
        printed = run_cli(["log", "digest", summary["run_id"], "--store", store], tmp_path)
        assert printed.returncode == 0, printed.explain()
        assert printed.stdout.strip() == summary["log_digest"]
