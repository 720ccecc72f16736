"""The full runs against numbers computed independently from the shipped CSV files.

The expectations read ``data/`` with the ``csv`` module; only what the run *did* (when it supplied, the
perp positions it held) comes from the run's event log.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from backtestutil import Closes, FullRun, funding_rows, perp_marks, read_log, read_rows, utc_ns

from basis.bus.messages import FundingRate, InstructionFilled, Liquidated, Settled

HEDGE_VENUES = ("binance", "bybit", "okx")
FUNDING_TOLERANCE = 0.005


def test_pure_lending_grows_with_the_usdt_liquidity_index(full_runs: dict[str, FullRun]) -> None:
    """Equity + what gas cost (the ETH payable, revalued: gas + its price effect) = capital × index ratio.

    The supply earns liquidity_index(last snapshot in the window) / liquidity_index(snapshot in force when
    the supply was made). USDT is the numéraire, so the only price effect is the ETH gas payable's.
    """
    run = full_runs["pure_lending_usdt"]
    summary = run.summary
    start, end = utc_ns(summary["start"]), utc_ns(summary["end"])

    supplies = [
        (m.ts, c.delta)
        for _, _, m in read_log(run.store_url, run.run_id, "evt.aave_v3.filled")
        if isinstance(m, InstructionFilled)
        for c in m.changes
        if c.instrument == "aave_v3:aToken:aUSDT"
    ]
    assert len(supplies) == 1 and supplies[0][1] > 0, f"expected one supply, the log has {supplies}"
    supplied_at, supplied = supplies[0]
    assert start <= supplied_at < end
    assert supplied == pytest.approx(summary["initial_equity"], rel=1e-12)

    rows = read_rows("aave_v3/usdt_reserve_daily.csv")
    index = [(utc_ns(r["timestamp"]), float(r["liquidity_index"])) for r in rows]
    at_supply = [v for ts, v in index if ts <= supplied_at][-1]
    last = [v for ts, v in index if ts < end][-1]
    expected = summary["initial_equity"] * last / at_supply

    attribution = summary["attribution"]
    assert attribution["gas"] < 0.0
    assert attribution["funding"] == attribution["trading_fees"] == 0.0
    before_gas = summary["final_equity"] - attribution["gas"] - attribution["price"]
    assert before_gas / expected - 1.0 == pytest.approx(0.0, abs=1e-4), (before_gas, expected)
    assert attribution["lending_interest"] == pytest.approx(expected - summary["initial_equity"], rel=1e-4)


@pytest.mark.parametrize(("mode", "symbol"), [("btc_basis", "BTCUSDT"), ("eth_basis", "ETHUSDT")])
def test_funding_matches_rates_times_positions(full_runs: dict[str, FullRun], mode: str, symbol: str) -> None:
    """Σ over funding rows in the window of −contracts × mark × rate, per venue (ETH share class: each
    amount converted at the reference ETH price, Bybit ETHUSDT spot, when it is paid)."""
    run = full_runs[mode]
    summary = run.summary
    start, end = utc_ns(summary["start"]), utc_ns(summary["end"])

    # The perp position held when each funding rate was published: fills before it in log order.
    contracts: dict[str, float] = defaultdict(float)
    held_at: dict[tuple[str, int], float] = {}
    settled: dict[str, float] = defaultdict(float)
    for _, _subject, message in read_log(run.store_url, run.run_id):
        if isinstance(message, (InstructionFilled, Liquidated)):
            for change in message.changes:
                if ":Perp:" in change.instrument:
                    contracts[change.instrument] += change.delta
        elif isinstance(message, FundingRate) and message.symbol == symbol:
            held_at[(message.venue, message.ts)] = contracts[f"{message.venue}:Perp:{symbol}"]
        elif isinstance(message, Settled) and message.kind == "funding":
            settled[message.venue] += message.amount
    assert set(k.split(":")[0] for k, v in contracts.items() if v) <= set(HEDGE_VENUES)

    marks = perp_marks(symbol)
    eth = Closes("cex/bybit/ETHUSDT_spot_1h.csv.gz")
    expected_usdt: dict[str, float] = {}
    expected_share = 0.0
    for venue in HEDGE_VENUES:
        total = 0.0
        rows = funding_rows(venue, symbol, start, end)
        assert rows, f"no {venue} funding rows in the window"
        for ts, rate in rows:
            assert (venue, ts) in held_at, f"the {venue} funding row at {ts} is not in the run's log"
            amount = -held_at[(venue, ts)] * marks[venue].at(ts) * rate
            total += amount
            expected_share += amount / eth.at_or_before(ts) if summary["share_class"] == "ETH" else amount
        expected_usdt[venue] = total
        assert total > 0.0, f"{venue}: a short over the window should have earned funding, got {total}"

    for venue in HEDGE_VENUES:
        assert settled[venue] == pytest.approx(expected_usdt[venue], rel=FUNDING_TOLERANCE), venue
    assert summary["attribution"]["funding"] == pytest.approx(expected_share, rel=FUNDING_TOLERANCE)


def test_eth_basis_reports_in_eth(full_runs: dict[str, FullRun]) -> None:
    summary = full_runs["eth_basis"].summary
    assert summary["share_class"] == "ETH"
    log = read_log(full_runs["eth_basis"].store_url, summary["run_id"], "evt.run.started")
    started = [m for _, _, m in log]
    assert len(started) == 1 and started[0].share_class == "ETH"  # type: ignore[attr-defined]
    # The funding attribution is in ETH: tens of thousands of USDT of funding are a few ETH.
    assert 0.0 < summary["attribution"]["funding"] < 0.1 * summary["initial_equity"]


def test_staking_earns_the_exchange_rate_growth_of_its_token(full_runs: dict[str, FullRun]) -> None:
    """eth_staking_only: the ETH staked at the weETH/ETH rate in force grows with that rate; the staking
    attribution is capital × (last rate of the window / rate at the stake − 1), within 1 bp of equity."""
    run = full_runs["eth_staking_only"]
    summary = run.summary
    start, end = utc_ns(summary["start"]), utc_ns(summary["end"])
    stakes = [
        (m.ts, c.delta)
        for _, _, m in read_log(run.store_url, run.run_id, "evt.etherfi.filled")
        if isinstance(m, InstructionFilled)
        for c in m.changes
        if c.instrument == "wallet:BaseToken:ETH" and c.delta < -1.0
    ]
    assert len(stakes) == 1, f"expected one stake, the log has {stakes}"
    staked_at, staked = stakes[0]
    assert start <= staked_at < end and -staked == pytest.approx(summary["initial_equity"], rel=1e-12)

    rows = read_rows("aave_v3/oracle_weeth_eth_daily.csv")
    rates = [(utc_ns(r["timestamp"]), float(r["price_eth"])) for r in rows]
    at_stake = [v for ts, v in rates if ts <= staked_at][-1]
    last = [v for ts, v in rates if ts < end][-1]
    expected = -staked * (last / at_stake - 1.0)

    attribution = summary["attribution"]
    assert abs(attribution["staking"] - expected) <= 1e-4 * summary["final_equity"], (attribution, expected)
    assert attribution["funding"] == attribution["lending_interest"] == attribution["trading_fees"] == 0.0
    assert attribution["gas"] < 0.0 and abs(attribution["price"]) < 1e-6  # ETH equity: only the gas ETH
