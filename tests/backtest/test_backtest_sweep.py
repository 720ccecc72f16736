"""``basis sweep``: a 2x2 grid of btc_basis runs side by side, a combination that fails while the others
complete, and the usage errors found before anything runs."""

from __future__ import annotations

import asyncio
import csv
import gzip
import itertools
import re
from datetime import datetime
from pathlib import Path

import pytest
from backtestutil import load_summary, run_cli, utc_ns
from click.testing import CliRunner

from basis.backtest import Backtest, BacktestRequest
from basis.cli.main import cli
from basis.components.feed import parse_utc
from basis.components.feed.synthetic import write_synthetic, write_synthetic_gas

WINDOW = ["--start", "2024-06-01", "--end", "2024-06-05"]
THRESHOLDS = ("0.02", "0.05")
ALLOCATIONS = ("{binance: 0.4, bybit: 0.3, okx: 0.3}", "{binance: 0.6, bybit: 0.2, okx: 0.2}")
FIGURES = ("apy", "pnl", "max_drawdown", "sharpe", "sortino", "cost_to_yield", "final_equity", "volatility")


def read_table(out: Path) -> list[dict[str, str]]:
    with (out / "sweep.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def moment(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def test_a_2x2_grid_runs_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = [
        "sweep",
        "--mode",
        "btc_basis",
        *WINDOW,
        "--grid",
        f"position_deviation_threshold={','.join(THRESHOLDS)}",
        "--grid",
        f"hedge_allocation={','.join(ALLOCATIONS)}",
        "--workers",
        "2",
        "--no-report",
        "--out",
        str(out),
    ]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.explain()

    table = read_table(out)
    assert [(r["position_deviation_threshold"], r["hedge_allocation"]) for r in table] == list(
        itertools.product(THRESHOLDS, ALLOCATIONS)
    )
    assert [r["status"] for r in table] == ["ok"] * 4
    for row in table:  # each row is its own run's summary.json, in its own folder with its own store
        run_dir = Path(row["run_dir"])
        assert run_dir.parent == out
        assert (run_dir / "events.sqlite").is_file()
        summary = load_summary(run_dir)
        for name in FIGURES:
            assert float(row[name]) == pytest.approx(summary[name], rel=1e-12, abs=0), name
        assert row["log_digest"] == summary["log_digest"]
        assert row["run_id"] == summary["run_id"]
        assert row["error"] == ""
    assert len({r["run_dir"] for r in table}) == 4
    assert len({r["log_digest"] for r in table}) == 4

    # the allocation really reaches the run: the sweep's second combination is the plain backtest of it
    alone = BacktestRequest(
        mode="btc_basis",
        start=utc_ns("2024-06-01"),
        end=utc_ns("2024-06-05"),
        overrides={
            "position_deviation_threshold": 0.02,
            "hedge_allocation": {"binance": 0.6, "bybit": 0.2, "okx": 0.2},
        },
        out=tmp_path / "alone",
        report=False,
    )
    summary = asyncio.run(Backtest(alone).run())
    assert summary["log_digest"] == table[1]["log_digest"]
    assert table[0]["pnl"] != table[1]["pnl"]

    # in parallel: with two workers, the first two runs overlap in time
    spans = sorted((moment(r["started"]), moment(r["finished"])) for r in table)
    assert spans[1][0] < spans[0][1], spans

    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] + "]" for line in progress] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert all(" ok  position_deviation_threshold=" in line for line in progress), progress
    assert "4 of 4 combinations completed, 0 failed" in result.stdout

    page = (out / "sweep.html").read_text(encoding="utf-8")
    assert page.count('<tr class="ok">') == 4
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # self-contained
    assert f"{float(table[0]['apy']):.4%}" in page


def corrupt_root(root: Path) -> Path:
    """A synthetic data root whose Bybit BTC spot bars have a bad close on their 40th row."""
    start, end = parse_utc("2030-01-01T00:00:00Z"), parse_utc("2030-01-04T00:00:00Z")
    write_synthetic(
        root, start=start, end=end, venue="binance", symbols={"BTCUSDT": 42_000.0}, interval_s=3_600
    )
    write_synthetic(
        root,
        start=start,
        end=end,
        venue="bybit",
        symbols={"BTCUSDT": 42_000.0, "ETHUSDT": 2_300.0},
        interval_s=3_600,
    )
    write_synthetic_gas(root, start=start, end=end)
    bars = root / "cex" / "bybit" / "BTCUSDT_spot_1h.csv.gz"
    with gzip.open(bars, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    cells = lines[40].split(",")
    cells[4] = "oops"
    lines[40] = ",".join(cells)
    with gzip.open(bars, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return root


def test_a_failing_combination_is_listed_and_the_others_complete(tmp_path: Path) -> None:
    root = corrupt_root(tmp_path / "data")
    out = tmp_path / "sweep"
    args = [
        "sweep",
        "--mode",
        "btc_basis",
        "--data",
        str(root),
        "--no-bundled-data",
        "--set",
        "hedge_venues=[binance]",
        "--set",
        "hedge_allocation={binance: 1.0}",
        "--grid",
        "venues.spot=binance,bybit",
        "--grid",
        "slippage_bps=2,4",
        "--out",
        str(out),
    ]
    result = run_cli(args, tmp_path)
    assert result.returncode == 1, result.explain()

    table = read_table(out)
    assert [(r["venues.spot"], r["slippage_bps"], r["status"]) for r in table] == [
        ("binance", "2", "ok"),
        ("binance", "4", "ok"),
        ("bybit", "2", "failed"),
        ("bybit", "4", "failed"),
    ]
    bars = root / "cex" / "bybit" / "BTCUSDT_spot_1h.csv.gz"
    expected = f"{bars}:41: column 'close': 'oops' is not a number"
    for row in table[2:]:
        assert row["error"].startswith(expected), row["error"]
        assert "\n" not in row["error"]
        assert row["apy"] == row["log_digest"] == ""
        assert "Traceback" in (Path(row["run_dir"]) / "error.txt").read_text(encoding="utf-8")
    for row in table[:2]:
        summary = load_summary(Path(row["run_dir"]))
        assert float(row["final_equity"]) == summary["final_equity"]
        assert row["error"] == ""
        assert (Path(row["run_dir"]) / "report.html").is_file()
    assert table[0]["log_digest"] != table[1]["log_digest"]

    failed = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert len(failed) == 2 and all(expected in line for line in failed), result.stderr
    assert "2 of 4 combinations completed, 2 failed" in result.stdout
    page = (out / "sweep.html").read_text(encoding="utf-8")
    assert page.count('<tr class="failed">') == 2
    assert "is not a number" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--grid", "position_deviation_threshold"],
            "--grid 'position_deviation_threshold': write KEY=V1,V2,...",
        ),
        (["--grid", "=0.1,0.2"], "--grid '=0.1,0.2': write KEY=V1,V2,..."),
        (["--grid", "transfer_band=0.1,,0.2"], "--grid transfer_band: an empty value in '0.1,,0.2'"),
        (["--grid", "transfer_band=0.1,0.1"], "--grid transfer_band: the value 0.1 is given twice"),
        (["--grid", "hedge_allocation={binance: 1"], "--grid hedge_allocation: unclosed { in '{binance: 1'"),
        (
            ["--grid", "transfer_band=0.1", "--grid", "transfer_band=0.2"],
            "--grid transfer_band: the key is given twice",
        ),
        (
            ["--set", "transfer_band=0.1", "--grid", "transfer_band=0.2,0.3"],
            "--grid transfer_band: the key is also given with --set",
        ),
        (
            ["--grid", "transfer_bands=0.1,0.2"],
            "combination 1 (transfer_bands=0.1): configs/modes/btc_basis.yaml (with overrides): "
            "transfer_bands: unknown key",
        ),
        (
            ["--grid", "transfer_band=0.1,0.2", "--grid", "position_deviation_threshold=0.02,-1"],
            "combination 2 (transfer_band=0.1 position_deviation_threshold=-1): configs/modes/btc_basis.yaml "
            "(with overrides): position_deviation_threshold: must be > 0, got -1",
        ),
        (
            ["--grid", "transfer_band=0.1", "--start", "2010-01-01"],
            "combination 1 (transfer_band=0.1): window 2010-01-01T00:00:00Z .. ",
        ),
        (
            ["--grid", "transfer_band=0.1", "--workers", "0"],
            "Invalid value for '--workers': 0 is not in the range x>=1",
        ),
        ([], "--grid is required: give at least one KEY=V1,V2,..."),
    ],
)
def test_usage_errors_are_named_before_anything_runs(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "sweep"
    result = CliRunner().invoke(cli, ["sweep", "--mode", "btc_basis", *args, "--out", str(out)])
    explain = f"exit {result.exit_code}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    assert result.exit_code == 2, explain
    assert result.stderr.startswith("basis: error: "), explain
    assert message in result.stderr, explain
    assert len(result.stderr.strip().splitlines()) == 1, explain
    assert result.stdout == ""
    assert not out.exists()
