"""Stress scenarios: the bundled series shocked (``--stress NAME@DATE``), replayed through every component."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest
from backtestutil import load_summary, read_log, run_cli, sqlite_url, utc_ns

from basis.backtest.errors import BacktestError
from basis.backtest.stress import SCENARIOS, parse_stress, write_stressed_root
from basis.bus.messages import EmergencyAction, InstructionFilled, RiskAssessment, Settled, StrategyDecided
from basis.data import DATA_ROOT

DAY = 86_400 * 1_000_000_000
HOUR = 3_600 * 1_000_000_000


def test_a_shock_ramps_holds_and_recovers() -> None:
    depeg = SCENARIOS["lst_depeg"].factor(start=0)
    assert [depeg(t) for t in (0, DAY // 2, DAY, 8 * DAY, 8 * DAY + DAY // 2, 9 * DAY)] == [
        1.0,
        pytest.approx(0.975),
        0.95,
        0.95,
        pytest.approx(0.975),
        1.0,
    ]
    crash = SCENARIOS["eth_crash"].factor(start=0)
    assert crash(-1) == 1.0 and crash(DAY) == 0.7 and crash(400 * DAY) == 0.7


def rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:  # type: ignore[operator]
        return list(csv.DictReader(f))


def test_the_stressed_root_changes_the_prices_it_names_and_links_the_rest(tmp_path: Path) -> None:
    scenario, start = parse_stress("eth_crash@2024-08-04")
    root = write_stressed_root(scenario, start, DATA_ROOT, tmp_path / "root")
    spot = "cex/bybit/ETHUSDT_spot_1h.csv.gz"
    before, after = rows(DATA_ROOT / spot), rows(root / spot)
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        ts = utc_ns(old["timestamp"])
        factor = 1.0 if ts <= start else (0.7 if ts >= start + DAY else None)
        if factor is not None:
            assert float(new["close"]) == pytest.approx(float(old["close"]) * factor, rel=1e-12)
            assert new["volume"] == old["volume"]
    reserve = rows(root / "aave_v3/weth_reserve_daily.csv")
    original = {r["timestamp"]: r for r in rows(DATA_ROOT / "aave_v3/weth_reserve_daily.csv")}
    late = [r for r in reserve if utc_ns(r["timestamp"]) >= start + DAY]
    assert late and all(
        float(r["oracle_price_usd"])
        == pytest.approx(0.7 * float(original[r["timestamp"]]["oracle_price_usd"]))
        and r["liquidity_index"] == original[r["timestamp"]]["liquidity_index"]
        for r in late
    )
    assert (root / "cex/binance/BTCUSDT_spot_1h.csv.gz").is_symlink()  # untouched: linked
    assert (root / "aave_v3/oracle_weeth_eth_daily.csv").is_symlink()  # a ratio: ETH's price cancels out


def test_a_scenario_must_be_known_and_dated() -> None:
    with pytest.raises(BacktestError, match="no scenario 'eth_meltdown'; known: eth_crash, eth_spike"):
        parse_stress("eth_meltdown@2024-08-04")
    with pytest.raises(BacktestError, match=r"say when it starts, e\.g\. eth_crash@2024-08-05"):
        parse_stress("eth_crash")


def stressed(tmp_path: Path, mode: str, scenario: str, start: str, end: str, *extra: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    args = ["backtest", "--mode", mode, "--start", start, "--end", end, "--stress", scenario, *extra]
    args += ["--checkpoint-interval", "0", "--out", "out", "-q", "--no-report"]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.explain()
    summary = load_summary(tmp_path / "out")
    return summary, sqlite_url(tmp_path / "out" / "events.sqlite")


@pytest.mark.parametrize("scenario", ["eth_crash", "eth_spike"])
def test_leveraged_staking_rides_an_eth_move_it_is_hedged_against(tmp_path: Path, scenario: str) -> None:
    """Collateral (weETH) and debt (WETH) move together with ETH: the health factor does not move, and
    nothing is traded."""
    summary, store = stressed(tmp_path, "eth_leveraged", f"{scenario}@2024-08-04", "2024-07-28", "2024-08-12")
    assert summary["stress"]["scenario"] == scenario and summary["stress"]["liquidated"] is False
    health = [m.health_factor for _, _, m in read_log(store, summary["run_id"], "evt.risk.assessment")]
    health = [h for h in health if isinstance(h, float)]
    assert health and max(health) - min(health) < 0.01 and min(health) > 1.15
    assert summary["instructions"] == {"total": 1, "rejected": 0}  # the entry only


def test_leveraged_staking_deleverages_through_a_depeg_and_survives(tmp_path: Path) -> None:
    """A 5% depeg of the staked token cuts the health factor from ~1.19 toward 1.13 and equity by ~5 × 5%:
    the strategy deleverages in one bundle, nothing is liquidated, and the health factor is back in its
    band (above the 1.15 warning) once the depeg is over."""
    summary, store = stressed(tmp_path, "eth_leveraged", "lst_depeg@2024-08-04", "2024-07-28", "2024-08-25")
    assert summary["stress"]["liquidated"] is False and summary["attribution"]["liquidation"] == 0.0
    assessments = [m for _, _, m in read_log(store, summary["run_id"], "evt.risk.assessment")]
    health = [
        (m.ts, m.health_factor) for m in assessments if isinstance(m, RiskAssessment) and m.health_factor
    ]
    assert min(h for _, h in health) > 1.0
    bundles = [m for _, _, m in read_log(store, summary["run_id"], "evt.instadapp.filled")]
    assert len(bundles) >= 2 and all(isinstance(m, InstructionFilled) for m in bundles)
    sold = [
        c for m in bundles[1:] for c in m.changes if c.instrument == "aave_v3:aToken:aweETH" and c.delta < 0
    ]
    assert sold, "no deleveraging bundle"
    over = utc_ns("2024-08-13")  # ramp, a week, the way back
    assert all(h > 1.15 for ts, h in health if ts >= over)


def test_negative_funding_is_paid_by_the_shorts_and_survived(tmp_path: Path) -> None:
    summary, store = stressed(
        tmp_path, "eth_basis", "funding_negative@2024-09-03", "2024-09-01", "2024-09-12"
    )
    assert summary["stress"]["liquidated"] is False
    start, end = utc_ns("2024-09-03"), utc_ns("2024-09-10")
    funding = [
        m.amount
        for _, _, m in read_log(store, summary["run_id"], "evt.>")
        if isinstance(m, Settled) and m.kind == "funding" and start < m.ts <= end
    ]
    assert funding and all(amount < 0 for amount in funding)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("mode", ["usdt_eth_staking_hedged_simple", "usdt_eth_staking_hedged_leveraged"])
def test_hedged_staking_survives_every_scenario(tmp_path: Path, mode: str, scenario: str) -> None:
    """The hedged staking modes through each shock: nothing liquidated or refused, every venue's margin
    stays above its critical level (and the health factor above its own), the loss stays within 2% of
    equity, and the delta is back within its warning level within hours of any move that pushes it out."""
    shock = "2024-08-20"
    summary, store = stressed(tmp_path, mode, f"{scenario}@{shock}", "2024-08-12", "2024-09-05")
    assert summary["stress"]["liquidated"] is False and summary["attribution"]["liquidation"] == 0.0
    assert summary["instructions"]["rejected"] == 0
    assert summary["pnl"] > -0.02 * summary["initial_equity"]
    last: dict[int, RiskAssessment] = {}
    for _, _, m in read_log(store, summary["run_id"], "evt.risk.assessment"):
        assert isinstance(m, RiskAssessment)
        last[m.ts] = m
    assert min(r for m in last.values() for r in m.margin_ratios.values()) > 0.20
    assert all(m.health_factor is None or m.health_factor > 1.10 for m in last.values())
    # a move of the shocked series (the LST rate is a daily series: its depeg and recovery are one step
    # each) may push the delta out of its band; within six hours it is back inside the warning level
    times = sorted(last)
    for i, ts in enumerate(times):
        if last[ts].delta_drift >= 0.03:
            after = [t for t in times[i:] if t <= ts + 6 * HOUR]
            assert any(last[t].delta_drift < 0.03 for t in after), (ts, last[ts].delta_drift)
    assert last[times[-1]].delta_drift < 0.015  # and inside the strategy's own band at the end


PRIORITY = {"cex_margin": 0, "aave_ltv": 1, "imbalance": 2}


def emergencies_and_decisions(store: str, run_id: str) -> list[EmergencyAction | StrategyDecided]:
    return [
        m
        for _, _, m in read_log(store, run_id, "evt.strategy.>")
        if isinstance(m, EmergencyAction) or (isinstance(m, StrategyDecided) and m.action != "hold")
    ]


def assert_in_priority_order(log: list[EmergencyAction | StrategyDecided]) -> None:
    """Within an instant the emergencies come in priority order, and the decision that follows them is
    caused by the last one."""
    for i, m in enumerate(log):
        if not isinstance(m, EmergencyAction):
            continue
        after = log[i + 1]
        if isinstance(after, EmergencyAction):
            assert after.ts == m.ts and PRIORITY[after.protocol] >= PRIORITY[m.protocol], (m, after)
            assert after.causation_id == m.id
        else:
            assert after.ts == m.ts and after.causation_id == m.id and "emergency" in after.reason


def test_an_lst_depeg_repays_debt_through_the_ltv_protocol(tmp_path: Path) -> None:
    """usdt_eth_staking_hedged_leveraged under lst_depeg: the daily rate steps 5% down, the health factor
    falls below its warning (1.15); the aave_ltv protocol lists the wallet, the exchanges' margin and
    unstaking in that order, takes the debt back to target_ltv in one flash-loan bundle, and the health
    factor is back above its warning at the next valuation."""
    summary, store = stressed(
        tmp_path, "usdt_eth_staking_hedged_leveraged", "lst_depeg@2024-08-20", "2024-08-12", "2024-08-25"
    )
    log = emergencies_and_decisions(store, summary["run_id"])
    emergencies = [m for m in log if isinstance(m, EmergencyAction)]
    assert [m.protocol for m in emergencies] == ["aave_ltv"], emergencies
    (ltv,) = emergencies
    assert [s.name for s in ltv.sources] == ["wallet", "cex_margin", "unstake"]
    assert ltv.sources[-1].used_usd == pytest.approx(ltv.shortfall_usd) and "health_factor" in ltv.trigger
    assert_in_priority_order(log)
    risk = {m.ts: m for _, _, m in read_log(store, summary["run_id"], "evt.risk.assessment")}
    after = [risk[t].health_factor for t in sorted(risk) if t > ltv.ts]
    assert after[0] is not None and 1.15 < after[0] < 1.25
    assert summary["stress"]["liquidated"] is False and summary["instructions"]["rejected"] == 0


def test_a_spike_on_thin_margin_runs_the_margin_protocols_in_priority_order(tmp_path: Path) -> None:
    """usdt_eth_staking_hedged_leveraged with 70% staked (margin buffer 0.43) under eth_spike: venues fall
    below the margin warning (0.30); cex_margin draws on the wallet, then (the lending venue being in
    eMode) unstaking; imbalance moves surplus between venues; every instant's emergencies come in
    priority order before the decision acting on them; no venue reaches critical, nothing is liquidated."""
    summary, store = stressed(
        tmp_path,
        "usdt_eth_staking_hedged_leveraged",
        "eth_spike@2024-08-20",
        "2024-08-12",
        "2024-08-25",
        "--set",
        "stake_allocation_percentage=0.7",
    )
    log = emergencies_and_decisions(store, summary["run_id"])
    emergencies = [m for m in log if isinstance(m, EmergencyAction)]
    protocols = {m.protocol for m in emergencies}
    assert {"cex_margin", "imbalance"} <= protocols, protocols
    for m in emergencies:
        if m.protocol == "cex_margin":
            assert [s.name for s in m.sources] == ["wallet", "aave_v3", "unstake"]
            assert m.sources[1].used_usd == 0.0 and "eMode" in m.sources[1].note
            assert sum(s.used_usd for s in m.sources) == pytest.approx(m.shortfall_usd)
    assert_in_priority_order(log)
    risk = [m for _, _, m in read_log(store, summary["run_id"], "evt.risk.assessment")]
    assert min(r for m in risk for r in m.margin_ratios.values()) > 0.20  # type: ignore[attr-defined]
    assert summary["stress"]["liquidated"] is False and summary["instructions"]["rejected"] == 0
