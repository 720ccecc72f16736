"""The gap rule for long holes: OKX's ETHUSDT perp file has a 30-day hole from 2024-08-31."""

from __future__ import annotations

from pathlib import Path

from backtestutil import load_summary, reconciliation_gap, run_cli

OKX_ONLY = ["--set", "hedge_venues=[okx]", "--set", "hedge_allocation={okx: 1.0}"]


def test_long_hole_is_filled_from_another_venue_and_reported(tmp_path: Path) -> None:
    args = ["backtest", "--mode", "eth_basis", "--start", "2024-08-20", "--end", "2024-10-10", *OKX_ONLY]
    result = run_cli([*args, "--out", "out", "-q", "--no-report"], tmp_path)
    assert result.returncode == 0, result.explain()
    summary = load_summary(tmp_path / "out")
    fills = [rule for rule in summary["gap_rules"] if "from" in rule]
    assert fills == [
        {
            "rule": "hole longer than 36h filled from another venue's series",
            "series": "bar:okx:ETHUSDT:perp",
            "from": "bar:binance:ETHUSDT:perp",
            "start": "2024-08-31T16:00:00Z",
            "end": "2024-09-30T17:00:00Z",
        }
    ]
    gap, tolerance = reconciliation_gap(summary)
    assert abs(gap) <= tolerance
