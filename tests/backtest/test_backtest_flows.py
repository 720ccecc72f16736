"""Investor flows during a run: a deposit and a withdrawal from a ``--flows`` file."""

from __future__ import annotations

from pathlib import Path

import pytest
from backtestutil import load_summary, read_log, reconciliation_gap, run_cli, sqlite_url, utc_ns

from basis.bus.messages import FlowBooked, InstructionFilled, InvestorWithdrawal

START, END = "2024-06-01", "2024-06-15"
FLOWS = [("2024-06-05T00:00:00Z", 50_000.0), ("2024-06-10T12:00:00Z", -30_000.0)]


@pytest.mark.parametrize("mode", ["pure_lending_usdt", "btc_basis"])
def test_deposit_and_withdrawal(tmp_path: Path, mode: str) -> None:
    flows = tmp_path / "flows.csv"
    rows = "".join(f"{ts},{amount}\n" for ts, amount in FLOWS)
    flows.write_text(f"timestamp,amount\n{rows}", encoding="utf-8")
    result = run_cli(
        [
            "backtest",
            "--mode",
            mode,
            "--start",
            START,
            "--end",
            END,
            "--flows",
            str(flows),
            "--out",
            "out",
            "-q",
            "--no-report",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.explain()
    summary = load_summary(tmp_path / "out")
    store = sqlite_url(tmp_path / "out" / "events.sqlite")

    file_sum = sum(amount for _, amount in FLOWS)
    assert summary["net_flows"] == pytest.approx(file_sum, rel=1e-9)

    booked = [m for _, _, m in read_log(store, summary["run_id"], "evt.fund.>") if isinstance(m, FlowBooked)]
    deposits = [m for m in booked if m.kind == "deposit"]
    withdrawals = [m for m in booked if m.kind == "withdrawal"]
    assert [m.amount for m in deposits] == [summary["initial_equity"], 50_000.0]
    assert deposits[1].ts == utc_ns(FLOWS[0][0])

    requested = [
        m for _, _, m in read_log(store, summary["run_id"], "cmd.fund.>") if isinstance(m, InvestorWithdrawal)
    ]
    assert len(requested) == 1 and requested[0].amount == 30_000.0 and requested[0].ts == utc_ns(FLOWS[1][0])
    assert len(withdrawals) == 1, f"the withdrawal was not paid: {withdrawals}"
    paid = withdrawals[0]
    assert paid.amount == pytest.approx(30_000.0, rel=1e-9)
    assert paid.request_id == requested[0].id
    assert utc_ns(FLOWS[1][0]) <= paid.ts < utc_ns(END)
    assert sum(m.amount for m in deposits) - paid.amount == pytest.approx(
        summary["initial_equity"] + summary["net_flows"], rel=1e-12
    )

    gap, tolerance = reconciliation_gap(summary)
    assert abs(gap) <= tolerance, f"Σ attribution misses the equity change by {gap}"


ETH_FLOWS = [("2024-06-05T00:00:00Z", 50.0), ("2024-06-10T12:00:00Z", -30.0)]


@pytest.mark.parametrize(
    ("mode", "end", "unwound_on"),
    [
        ("eth_staking_only", "2024-06-25", "evt.etherfi.filled"),
        ("eth_leveraged", "2024-06-15", "evt.instadapp.filled"),
    ],
)
def test_eth_modes_stake_a_deposit_and_unwind_for_a_withdrawal(
    tmp_path: Path, mode: str, end: str, unwound_on: str
) -> None:
    """A deposit is staked (and levered); a withdrawal is unstaked through the queue (staking) or sold on
    the DEX inside a deleveraging bundle (leveraged) and paid in full."""
    flows = tmp_path / "flows.csv"
    flows.write_text("timestamp,amount\n" + "".join(f"{ts},{a}\n" for ts, a in ETH_FLOWS), encoding="utf-8")
    args = [
        "backtest",
        "--mode",
        mode,
        "--start",
        START,
        "--end",
        end,
        "--flows",
        str(flows),
        "--out",
        "out",
        "-q",
        "--no-report",
    ]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.explain()
    summary = load_summary(tmp_path / "out")
    store = sqlite_url(tmp_path / "out" / "events.sqlite")
    assert summary["instructions"]["rejected"] == 0
    gap, tolerance = reconciliation_gap(summary)
    assert abs(gap) <= tolerance

    booked = [m for _, _, m in read_log(store, summary["run_id"], "evt.fund.>") if isinstance(m, FlowBooked)]
    (paid,) = [m for m in booked if m.kind == "withdrawal"]
    assert paid.amount == pytest.approx(30.0, rel=1e-9) and paid.ts >= utc_ns(ETH_FLOWS[1][0])
    unwinds = [
        m
        for _, _, m in read_log(store, summary["run_id"], unwound_on)
        if isinstance(m, InstructionFilled) and m.ts >= utc_ns(ETH_FLOWS[1][0])
    ]
    assert unwinds, "no unwinding before the payout"
    sold = [c for m in unwinds for c in m.changes if c.instrument == "wallet:BaseToken:weETH" and c.delta < 0]
    assert sold, "the withdrawal was not funded from the staked position"


def test_hedged_staking_scales_both_legs_with_flows(tmp_path: Path) -> None:
    """usdt_eth_staking_hedged_simple: a deposit is staked and hedged; a withdrawal sells staked ETH on the
    DEX, sells it on the spot venue, buys back the shorts as the long shrinks and is paid in full; the book
    stays hedged at the end of every instant."""
    flows = tmp_path / "flows.csv"
    rows = [("2024-08-08T00:00:00Z", 50_000.0), ("2024-08-14T12:00:00Z", -30_000.0)]
    flows.write_text("timestamp,amount\n" + "".join(f"{ts},{a}\n" for ts, a in rows), encoding="utf-8")
    args = ["backtest", "--mode", "usdt_eth_staking_hedged_simple", "--start", "2024-08-02"]
    args += ["--end", "2024-08-22", "--flows", str(flows), "--out", "out", "-q", "--no-report"]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.explain()
    summary = load_summary(tmp_path / "out")
    store = sqlite_url(tmp_path / "out" / "events.sqlite")
    run_id = summary["run_id"]
    assert summary["instructions"]["rejected"] == 0
    gap, tolerance = reconciliation_gap(summary)
    assert abs(gap) <= tolerance

    booked = [m for _, _, m in read_log(store, run_id, "evt.fund.>") if isinstance(m, FlowBooked)]
    (paid,) = [m for m in booked if m.kind == "withdrawal"]
    assert paid.amount == pytest.approx(30_000.0, rel=1e-3) and paid.ts >= utc_ns(rows[1][0])

    def changes(subject: str, instrument: str) -> list[tuple[int, float]]:
        return [
            (m.ts, c.delta)
            for _, _, m in read_log(store, run_id, subject)
            if isinstance(m, InstructionFilled)
            for c in m.changes
            if c.instrument == instrument
        ]

    deposit, withdrawal = utc_ns(rows[0][0]), utc_ns(rows[1][0])
    staked = changes("evt.etherfi.filled", "wallet:BaseToken:weETH")
    assert any(deposit <= ts < withdrawal and d > 0 for ts, d in staked), staked
    sold = changes("evt.uniswap.filled", "wallet:BaseToken:weETH")
    assert any(ts >= withdrawal and d < 0 for ts, d in sold), sold
    bought_back = [
        (ts, d)
        for venue in ("binance", "bybit", "okx")
        for ts, d in changes(f"evt.{venue}.filled", f"{venue}:Perp:ETHUSDT")
        if ts >= withdrawal
    ]
    # half the withdrawal was staked: at least that much ETH is bought back (the rest is margin released;
    # the size also follows the price since the deposit)
    price = [m.close for _, _, m in read_log(store, run_id, "md.bar.bybit.ETHUSDT") if m.ts <= withdrawal][-1]
    assert sum(d for _, d in bought_back) > 0.9 * 15_000.0 / price, bought_back
    settled = {m.ts: m.delta_drift for _, _, m in read_log(store, run_id, "evt.risk.assessment")}
    assert max(settled.values()) < 0.03


def test_hedged_staking_can_unwind_through_the_withdrawal_queue(tmp_path: Path) -> None:
    """usdt_eth_staking_hedged_simple with ``unwind_via: queue``: a withdrawal redeems weETH through
    ether.fi's queue (7 days, no pool fee) instead of selling it; the ETH in the queue stays on the books
    and hedged, and the investor is paid once it arrived and was sold."""
    flows = tmp_path / "flows.csv"
    flows.write_text("timestamp,amount\n2024-08-14T12:00:00Z,-30000\n", encoding="utf-8")
    args = ["backtest", "--mode", "usdt_eth_staking_hedged_simple", "--start", "2024-08-02", "--end"]
    args += [
        "2024-08-30",
        "--flows",
        str(flows),
        "--set",
        "unwind_via=queue",
        "--out",
        "out",
        "-q",
        "--no-report",
    ]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.explain()
    summary = load_summary(tmp_path / "out")
    store = sqlite_url(tmp_path / "out" / "events.sqlite")
    run_id = summary["run_id"]
    assert summary["instructions"]["rejected"] == 0
    requested = utc_ns("2024-08-14T12:00:00Z")
    unstakes = [m for _, _, m in read_log(store, run_id, "cmd.router.unstake")]
    assert unstakes and all(m.ts >= requested for m in unstakes)
    assert not [m for _, _, m in read_log(store, run_id, "cmd.router.swap") if m.ts >= requested]
    (paid,) = [m for _, _, m in read_log(store, run_id, "evt.fund.withdrawal") if isinstance(m, FlowBooked)]
    assert paid.amount == pytest.approx(30_000.0, rel=1e-3)
    assert paid.ts >= unstakes[0].ts + 7 * 86_400 * 10**9  # the queue's delay (configs/venues/etherfi.yaml)
    settled = {m.ts: m.delta_drift for _, _, m in read_log(store, run_id, "evt.risk.assessment")}
    assert max(settled.values()) < 0.03
