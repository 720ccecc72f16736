"""The shipped modes over their whole default window, through the command line.

Each mode runs once per session (fixture ``full_runs``): ``basis backtest --mode M`` and nothing else.
"""

from __future__ import annotations

import json
import math

import pytest
from backtestutil import (
    ATTRIBUTION_KEYS,
    CONTRACT_KEYS,
    DATA_END,
    MODES,
    FullRun,
    first_event_ns,
    message_count,
    reconciliation_gap,
    run_cli,
    utc_ns,
)

SHARE_CLASS = {
    "pure_lending_usdt": "USDT",
    "btc_basis": "USDT",
    "eth_basis": "ETH",
    "eth_staking_only": "ETH",
    "eth_leveraged": "ETH",
    "usdt_eth_staking_hedged_simple": "USDT",
    "usdt_eth_staking_hedged_leveraged": "USDT",
}
INITIAL_CAPITAL = {
    "pure_lending_usdt": 100_000.0,
    "btc_basis": 100_000.0,
    "eth_basis": 100.0,
    "eth_staking_only": 100.0,
    "eth_leveraged": 100.0,
    "usdt_eth_staking_hedged_simple": 100_000.0,
    "usdt_eth_staking_hedged_leveraged": 100_000.0,
}
"""``initial_capital`` of each mode's YAML, in its share class."""

SERIES = {
    "pure_lending_usdt": [
        "aave_v3/usdt_reserve_daily.csv",
        "cex/bybit/ETHUSDT_spot_1h.csv.gz",
        "gas/ethereum_gas_1h.csv.gz",
    ],
    "btc_basis": [
        "cex/binance/BTCUSDT_spot_1h.csv.gz",
        "cex/binance/BTCUSDT_perp_1h.csv.gz",
        "cex/bybit/BTCUSDT_perp_1h.csv.gz",
        "cex/binance/BTCUSDT_funding.csv",
        "cex/bybit/BTCUSDT_funding.csv",
        "cex/okx/BTCUSDT_funding.csv",
        "cex/bybit/ETHUSDT_spot_1h.csv.gz",
        "gas/ethereum_gas_1h.csv.gz",
    ],
    "eth_basis": [
        "cex/bybit/ETHUSDT_spot_1h.csv.gz",
        "cex/binance/ETHUSDT_perp_1h.csv.gz",
        "cex/bybit/ETHUSDT_perp_1h.csv.gz",
        "cex/okx/ETHUSDT_perp_1h.csv.gz",
        "cex/binance/ETHUSDT_funding.csv",
        "cex/bybit/ETHUSDT_funding.csv",
        "cex/okx/ETHUSDT_funding.csv",
        "gas/ethereum_gas_1h.csv.gz",
    ],
    "eth_staking_only": [
        "cex/bybit/ETHUSDT_spot_1h.csv.gz",
        "aave_v3/oracle_weeth_eth_daily.csv",
        "gas/ethereum_gas_1h.csv.gz",
    ],
    "eth_leveraged": [
        "cex/bybit/ETHUSDT_spot_1h.csv.gz",
        "aave_v3/weth_reserve_daily.csv",
        "aave_v3/weeth_reserve_daily.csv",
        "aave_v3/oracle_weeth_eth_daily.csv",
        "gas/ethereum_gas_1h.csv.gz",
    ],
    "usdt_eth_staking_hedged_simple": [
        "cex/bybit/ETHUSDT_spot_1h.csv.gz",
        "cex/binance/ETHUSDT_perp_1h.csv.gz",
        "cex/bybit/ETHUSDT_perp_1h.csv.gz",
        "cex/okx/ETHUSDT_perp_1h.csv.gz",
        "cex/binance/ETHUSDT_funding.csv",
        "cex/bybit/ETHUSDT_funding.csv",
        "cex/okx/ETHUSDT_funding.csv",
        "aave_v3/oracle_weeth_eth_daily.csv",
        "gas/ethereum_gas_1h.csv.gz",
    ],
    "usdt_eth_staking_hedged_leveraged": [
        "cex/bybit/ETHUSDT_spot_1h.csv.gz",
        "cex/okx/ETHUSDT_perp_1h.csv.gz",
        "aave_v3/weth_reserve_daily.csv",
        "aave_v3/weeth_reserve_daily.csv",
        "aave_v3/oracle_weeth_eth_daily.csv",
        "gas/ethereum_gas_1h.csv.gz",
    ],
}
"""The files each mode replays (reference prices, its venues' series, gas); the default window is the span
where all of them exist."""


@pytest.mark.parametrize("mode", MODES)
def test_mode_runs_over_the_whole_window_with_only_mode(full_runs: dict[str, FullRun], mode: str) -> None:
    run = full_runs[mode]
    assert run.result.returncode == 0, run.result.explain()
    for name in ("summary.json", "report.html", "events.sqlite"):
        assert (run.out / name).is_file(), f"{name} missing in {run.out}"
    summary = run.summary
    missing = [k for k in CONTRACT_KEYS if k not in summary]
    assert not missing, f"summary.json lacks {missing}"
    missing = [k for k in ATTRIBUTION_KEYS if k not in summary["attribution"]]
    assert not missing, f"summary.json attribution lacks {missing}"
    scalars = (
        "initial_equity",
        "final_equity",
        "net_flows",
        "pnl",
        "apy",
        "max_drawdown",
        "sharpe",
        "wall_seconds",
        "events",
    )
    numbers = {k: summary[k] for k in scalars}
    numbers.update({f"attribution.{k}": v for k, v in summary["attribution"].items()})
    for key, value in numbers.items():
        assert isinstance(value, (int, float)) and math.isfinite(value), f"{key} = {value!r}"

    assert summary["mode"] == mode
    assert summary["share_class"] == SHARE_CLASS[mode]
    assert summary["initial_equity"] == INITIAL_CAPITAL[mode]
    assert summary["net_flows"] == 0.0
    assert summary["pnl"] == pytest.approx(summary["final_equity"] - summary["initial_equity"], abs=1e-9)
    assert 0.0 <= summary["max_drawdown"] < 1.0
    assert summary["final_equity"] > 0.0
    assert isinstance(summary["log_digest"], str) and len(summary["log_digest"]) == 64
    int(summary["log_digest"], 16)
    assert summary["events"] == message_count(run.store_url, run.run_id)

    # The whole shipped window: from where the last of the mode's series starts to the end of the data.
    expected_start = max(first_event_ns(path) for path in SERIES[mode])
    assert utc_ns(summary["start"]) == expected_start, (summary["start"], SERIES[mode])
    assert summary["end"] == DATA_END


@pytest.mark.parametrize("mode", MODES)
def test_attribution_reconciles(full_runs: dict[str, FullRun], mode: str) -> None:
    summary = full_runs[mode].summary
    gap, tolerance = reconciliation_gap(summary)
    assert abs(gap) <= tolerance, f"Σ attribution misses the equity change by {gap} {summary['share_class']}"


@pytest.mark.parametrize("mode", MODES)
def test_log_digest_command_prints_the_summary_digest(full_runs: dict[str, FullRun], mode: str) -> None:
    run = full_runs[mode]
    result = run_cli(["log", "digest", run.run_id, "--store", run.store_url], run.cwd)
    assert result.returncode == 0, result.explain()
    assert result.stdout.strip() == run.summary["log_digest"]


@pytest.mark.parametrize("mode", MODES)
def test_replay_rebuilds_the_final_equity_exactly(full_runs: dict[str, FullRun], mode: str) -> None:
    run = full_runs[mode]
    summary = run.summary
    result = run_cli(["replay", run.run_id, "--store", run.store_url], run.cwd)
    assert result.returncode == 0, result.explain()
    rebuilt = json.loads(result.stdout)
    assert rebuilt["run_id"] == run.run_id
    assert rebuilt["share_class"] == summary["share_class"]
    assert rebuilt["equity"] == summary["final_equity"]
    assert rebuilt["attribution"] == summary["attribution"]
    assert "MISMATCH" not in result.stderr
