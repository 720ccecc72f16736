"""``basis backtest --processes``: every component in its own OS process, in lockstep over a real
nats-server, writes the same log (same digest) and the same summary as the in-process run, for every mode
that backtests (a short window each; the full windows are for the benchmark)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from backtestutil import load_summary, run_cli

from basis.bus.embedded import EmbeddedNats

WINDOWS = {
    "pure_lending_usdt": ("2024-06-01", "2024-06-04"),
    "btc_basis": ("2024-05-30", "2024-06-06"),  # the Binance hole of 2024-06-02 inside
    "eth_basis": ("2024-09-01", "2024-09-05"),
}
VOLATILE = {"wall_seconds", "store"}
"""Summary keys that describe the machine and the output folder, not the run."""


def summary_of(tmp_path: Path, name: str, mode: str, *extra: str) -> dict[str, Any]:
    start, end = WINDOWS[mode]
    out = tmp_path / name
    finished = run_cli(
        [
            "backtest",
            "--mode",
            mode,
            "--start",
            start,
            "--end",
            end,
            "--out",
            str(out),
            "-q",
            "--no-report",
            *extra,
        ],
        tmp_path,
    )
    assert finished.returncode == 0, finished.stderr
    return {k: v for k, v in load_summary(out).items() if k not in VOLATILE}


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(WINDOWS))
def test_processes_write_the_log_of_the_in_process_run(
    mode: str, tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    alone = summary_of(tmp_path, "in-process", mode)
    apart = summary_of(tmp_path, "processes", mode, "--processes", "--nats", nats_server.url)
    assert apart["log_digest"] == alone["log_digest"]
    assert apart == alone
    assert alone["instructions"]["total"] > 0 or mode == "pure_lending_usdt"


def test_nats_without_processes_is_a_usage_error(tmp_path: Path) -> None:
    finished = run_cli(["backtest", "--mode", "btc_basis", "--nats", "nats://127.0.0.1:1"], tmp_path)
    assert finished.returncode == 2
    assert "--nats is for --processes" in finished.stderr
