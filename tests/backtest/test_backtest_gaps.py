"""The gap rule: OKX's ETHUSDT perp file has a 30-day hole from 2024-08-31. It is marked to another
venue's ETHUSDT perp: Binance's has a hole of its own on 2024-09-02, so Bybit's."""

from __future__ import annotations

from pathlib import Path

from backtestutil import load_summary, reconciliation_gap, run_cli

OKX_ONLY = ["--set", "hedge_venues=[okx]", "--set", "hedge_allocation={okx: 1.0}"]


def test_hole_is_marked_to_another_venue_and_reported(tmp_path: Path) -> None:
    args = ["backtest", "--mode", "eth_basis", "--start", "2024-08-20", "--end", "2024-10-10", *OKX_ONLY]
    result = run_cli([*args, "--out", "out", "-q", "--no-report"], tmp_path)
    assert result.returncode == 0, result.explain()
    summary = load_summary(tmp_path / "out")
    assert summary["gap_rules"] == [
        {
            "series": "bar:okx:ETHUSDT:perp",
            "start": "2024-08-31T16:00:00Z",
            "end": "2024-09-30T17:00:00Z",
            "missing": 720,
            "rule": "marked to the same market on another venue, from this series' last close",
            "marks_to": "bar:bybit:ETHUSDT:perp",
        },
        {
            "series": "funding:okx:ETHUSDT",
            "start": "2024-07-31T16:00:00Z",
            "end": "2024-09-01T00:00:00Z",
            "missing": 93,
            "rule": "funding paid only at real funding timestamps: no settlement in the hole",
        },
    ]
    gap, tolerance = reconciliation_gap(summary)
    assert abs(gap) <= tolerance
