"""The full runs against numbers computed independently from the shipped CSV files.

The expectations read ``data/`` with the ``csv`` module; only what the run *did* (when it supplied, the
perp positions it held) comes from the run's event log.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from backtestutil import (
    HOUR_NS,
    NS,
    Closes,
    FullRun,
    funding_rows,
    perp_marks,
    read_log,
    read_rows,
    run_cli,
    utc_ns,
)

from basis.bus.messages import (
    FundingRate,
    Instruction,
    InstructionFilled,
    Liquidated,
    RebalanceAssessed,
    Settled,
    StrategyDecided,
    Swap,
    TransferCompleted,
)

HEDGE_VENUES = ("binance", "bybit", "okx")
FUNDING_TOLERANCE = 0.005


SECONDS_PER_YEAR = 365 * 86_400


def normalized_income(ts: int, end: int | None = None) -> float:
    """AAVE's ``getNormalizedIncome`` for USDT at ``ts``, from the shipped snapshots: the liquidity index of
    the last snapshot at or before ``ts`` (before ``end``, the run's exclusive end: the snapshot at its end
    is not replayed) × ``calculateLinearInterest`` (1 + its current liquidity rate × whole seconds since
    it / 365 days)."""
    rows = read_rows("aave_v3/usdt_reserve_daily.csv")
    snapshots = [(utc_ns(r["timestamp"]), r) for r in rows]
    at, row = [(t, r) for t, r in snapshots if t <= ts and (end is None or t < end)][-1]
    seconds = (ts - at) // NS
    return float(row["liquidity_index"]) * (
        1.0 + float(row["current_liquidity_rate"]) * seconds / SECONDS_PER_YEAR
    )


def lending_before_gas(run: FullRun) -> tuple[float, int, int]:
    """(equity + what gas cost, when the one supply was made, the run's last valuation time)."""
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
    last = max(m.ts for _, _, m in read_log(run.store_url, run.run_id, "evt.pnl.snapshot"))
    assert last == end  # the run's final clock tick is at its end: interest accrues up to it

    attribution = summary["attribution"]
    assert attribution["gas"] < 0.0
    assert attribution["funding"] == attribution["trading_fees"] == 0.0
    # USDT is the numéraire: the only price effect is the ETH gas payable's
    return summary["final_equity"] - attribution["gas"] - attribution["price"], supplied_at, last


def test_pure_lending_grows_with_the_usdt_normalized_income(full_runs: dict[str, FullRun]) -> None:
    """Equity + what gas cost = capital × getNormalizedIncome(last valuation) / getNormalizedIncome(supply).

    The supply is made at 01:00, an hour after the day's snapshot: it is booked at that hour's index, and
    the balance accrues from the snapshots' rates between them, up to the run's end."""
    run = full_runs["pure_lending_usdt"]
    summary = run.summary
    before_gas, supplied_at, last = lending_before_gas(run)
    assert supplied_at % (86_400 * NS) != 0  # not at a snapshot
    end = utc_ns(summary["end"])
    expected = summary["initial_equity"] * normalized_income(last, end) / normalized_income(supplied_at)
    assert abs(before_gas / expected - 1.0) < 0.01e-4, (before_gas, expected)  # 0.01 bp
    interest = summary["attribution"]["lending_interest"]
    assert interest == pytest.approx(expected - summary["initial_equity"], rel=1e-5)


WINDOW = ("2024-03-01T00:00:00Z", "2024-05-27T00:00:00Z")
"""87 days, midnight to midnight."""


@pytest.fixture(scope="module")
def midnight_run(tmp_path_factory: pytest.TempPathFactory) -> FullRun:
    cwd = tmp_path_factory.mktemp("lending-window")
    args = [
        "backtest",
        "--mode",
        "pure_lending_usdt",
        "--start",
        WINDOW[0],
        "--end",
        WINDOW[1],
        "--no-report",
    ]
    return FullRun("pure_lending_usdt", cwd, run_cli(args, cwd))


def test_pure_lending_over_a_midnight_window_matches_the_liquidity_index_ratio(midnight_run: FullRun) -> None:
    """Supplied at the first snapshot, valued at the window's end: within 0.2 bp of
    liquidity_index(end) / liquidity_index(start) after gas (the linear income of the day against the
    index the pool compounds), and exactly the normalized income at the end."""
    summary = midnight_run.summary
    before_gas, supplied_at, last = lending_before_gas(midnight_run)
    start, end = utc_ns(WINDOW[0]), utc_ns(WINDOW[1])
    assert supplied_at == start
    index = {
        utc_ns(r["timestamp"]): float(r["liquidity_index"])
        for r in read_rows("aave_v3/usdt_reserve_daily.csv")
    }
    ratio = index[end] / index[start]
    assert abs(before_gas / (summary["initial_equity"] * ratio) - 1.0) < 0.2e-4, (before_gas, ratio)
    expected = summary["initial_equity"] * normalized_income(last, end) / index[start]
    assert abs(before_gas / expected - 1.0) < 0.01e-4, (before_gas, expected)

    # accrued every hour, not once a day: one lending_interest Settled per hour of the window
    settled = [
        m for _, _, m in read_log(midnight_run.store_url, midnight_run.run_id, "evt.aave_v3.lending_interest")
    ]
    assert all(isinstance(m, Settled) and m.kind == "lending_interest" for m in settled)
    hours = (end - start) // HOUR_NS
    assert hours - 1 <= len(settled) <= hours + (end - start) // (86_400 * NS)


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
    attribution is Σ over the stakes (the capital, then the proceeds of reward sales) of ETH staked ×
    (last rate of the window / rate at the stake − 1), within 1 bp of equity."""
    run = full_runs["eth_staking_only"]
    summary = run.summary
    start, end = utc_ns(summary["start"]), utc_ns(summary["end"])
    stakes = [
        (m.ts, -c.delta)
        for _, _, m in read_log(run.store_url, run.run_id, "evt.etherfi.filled")
        if isinstance(m, InstructionFilled)
        for c in m.changes[:-1]  # the last change is gas
        if c.instrument == "wallet:BaseToken:ETH"
    ]
    assert stakes and stakes[0][1] == pytest.approx(summary["initial_equity"], rel=1e-12), stakes
    assert all(start <= ts < end for ts, _ in stakes)
    assert all(0.0 < eth < 0.01 * summary["initial_equity"] for _, eth in stakes[1:]), stakes

    rows = read_rows("aave_v3/oracle_weeth_eth_daily.csv")
    rates = [(utc_ns(r["timestamp"]), float(r["price_eth"])) for r in rows]
    last = [v for ts, v in rates if ts < end][-1]
    expected = sum(eth * (last / [v for ts, v in rates if ts <= at][-1] - 1.0) for at, eth in stakes)

    attribution = summary["attribution"]
    assert abs(attribution["staking"] - expected) <= 1e-4 * summary["final_equity"], (attribution, expected)
    assert attribution["funding"] == attribution["lending_interest"] == 0.0
    # ETH equity: the price effect is the reward tokens' move (in ETH) between their credit and their sale
    assert attribution["gas"] < 0.0 and abs(attribution["price"]) < attribution["rewards"]
    assert -0.01 * attribution["rewards"] < attribution["trading_fees"] < 0.0  # the pool fee of the sales


def test_ether_fi_rewards_are_credited_and_sold_for_eth(full_runs: dict[str, FullRun]) -> None:
    """eth_staking_only holds weETH: the EIGEN of the first distribution period (2024-08-15..2024-10-05) is
    eigen_earned / (eth_restaked + eth_not_restaked) × the eETH held (weETH × each day's rate, averaged over
    the period's days), credited when the period closes; rewards count under ``rewards`` and the log has
    the Swap instructions that sold them for ETH on Uniswap."""
    run = full_runs["eth_staking_only"]
    summary = run.summary
    credits = [
        m
        for _, _, m in read_log(run.store_url, run.run_id, "evt.etherfi.>")
        if isinstance(m, Settled) and m.kind == "rewards"
    ]
    first = next(m for m in credits if m.asset == "EIGEN")
    period_start, period_end = utc_ns("2024-08-15T00:00:00Z"), utc_ns("2024-10-06T00:00:00Z")
    assert first.ts == period_end and first.instrument == "wallet:BaseToken:EIGEN"

    (row,) = [
        r for r in read_rows("staking/etherfi_eigen_rewards.csv") if r["staking_period_end"] == "2024-10-05"
    ]
    per_eeth = float(row["eigen_earned"]) / (float(row["eth_restaked"]) + float(row["eth_not_restaked"]))
    rates = [
        (utc_ns(r["timestamp"]), float(r["price_eth"]))
        for r in read_rows("aave_v3/oracle_weeth_eth_daily.csv")
    ]
    staked_at = utc_ns(summary["start"])
    weeth = summary["initial_equity"] / [v for ts, v in rates if ts <= staked_at][-1]
    daily = [v for ts, v in rates if period_start <= ts < period_end]
    assert len(daily) == 52
    assert first.amount == pytest.approx(per_eeth * weeth * sum(daily) / len(daily), rel=1e-9)
    assert {m.asset for m in credits} == {"EIGEN", "ETHFI"}

    sales = [
        m.action
        for _, _, m in read_log(run.store_url, run.run_id, "cmd.uniswap.>")
        if isinstance(m, Instruction) and isinstance(m.action, Swap)
    ]
    assert sales and all(s.sell_asset in ("EIGEN", "ETHFI") and s.buy_asset == "ETH" for s in sales), sales
    eigen = sum(m.amount for m in credits if m.asset == "EIGEN")
    assert 0.5 * eigen < sum(s.amount for s in sales if s.sell_asset == "EIGEN") <= eigen
    assert summary["attribution"]["rewards"] > 0.002 * summary["initial_equity"]


def test_leverage_is_entered_in_one_bundle_and_kept_at_its_target(full_runs: dict[str, FullRun]) -> None:
    """eth_leveraged: one flash-loan bundle stakes equity × 5 and borrows equity × 4 WETH (target_ltv 0.8),
    and the health factor stays at eMode's liquidation threshold / 0.8 through the window."""
    run = full_runs["eth_leveraged"]
    summary = run.summary
    fills = [m for _, _, m in read_log(run.store_url, run.run_id, "evt.instadapp.filled")]
    assert fills and isinstance(fills[0], InstructionFilled)
    entry = {c.instrument: c.delta for c in fills[0].changes if not c.instrument.startswith("wallet:")}
    equity = summary["initial_equity"]
    rates = [
        (utc_ns(r["timestamp"]), float(r["price_eth"]))
        for r in read_rows("aave_v3/oracle_weeth_eth_daily.csv")
    ]
    rate = [v for ts, v in rates if ts <= fills[0].ts][-1]
    assert entry["aave_v3:debtToken:debtWETH"] == pytest.approx(4.0 * equity, rel=1e-9)
    assert entry["aave_v3:aToken:aweETH"] == pytest.approx(5.0 * equity / rate, rel=1e-9)
    assert summary["instructions"]["rejected"] == 0

    health = [m.health_factor for _, _, m in read_log(run.store_url, run.run_id, "evt.risk.assessment")]
    health = [h for h in health if h is not None]
    assert health and all(1.15 < h < 1.25 for h in health), (min(health), max(health))
    attribution = summary["attribution"]
    assert attribution["staking"] > 0.0 > attribution["borrow_cost"] and attribution["lending_interest"] > 0.0
    # the price effect is the reward tokens' move (in ETH) between their credit and their sale
    assert abs(attribution["price"]) < attribution["rewards"] and attribution["trading_fees"] <= 0.0


def test_hedged_staking_funds_every_venue_then_shorts_at_once_then_stakes(
    full_runs: dict[str, FullRun],
) -> None:
    """usdt_eth_staking_hedged_simple: USDT reaches every exchange before any short; the spot purchase and
    the three venues' shorts fill at one instant; the ETH then goes to the wallet and is staked. Half the
    equity is staked (stake_allocation_percentage 0.5), the shorts hedge it, and the book stays within
    the delta warning at every risk checkpoint."""
    run = full_runs["usdt_eth_staking_hedged_simple"]
    summary = run.summary
    fills = [
        m
        for _, _, m in read_log(run.store_url, run.run_id, "evt.>")
        if isinstance(m, (InstructionFilled, TransferCompleted))
    ]

    def first(instrument: str, sign: float = 1.0) -> int:
        return next(
            m.ts for m in fills for c in m.changes if c.instrument == instrument and c.delta * sign > 0
        )

    funded = {venue: first(f"{venue}:BaseToken:USDT") for venue in HEDGE_VENUES}
    shorts = {venue: first(f"{venue}:Perp:ETHUSDT", -1.0) for venue in HEDGE_VENUES}
    assert len(set(shorts.values())) == 1, shorts
    opened = shorts["binance"]
    assert all(ts <= opened for ts in funded.values()), (funded, opened)
    assert first("binance:BaseToken:ETH") == opened
    to_wallet = first("wallet:BaseToken:ETH")
    staked = first("wallet:BaseToken:weETH")
    assert opened < to_wallet <= staked

    entry_price = Closes("cex/bybit/ETHUSDT_spot_1h.csv.gz").at_or_before(opened)
    stake = next(m for m in fills if m.ts == staked and m.changes[0].instrument == "wallet:BaseToken:ETH")
    eth_staked = -sum(c.delta for c in stake.changes[:-1] if c.instrument == "wallet:BaseToken:ETH")
    assert eth_staked * entry_price == pytest.approx(0.5 * summary["initial_equity"], rel=0.01)
    short = -sum(
        c.delta for m in fills if m.ts == opened for c in m.changes if c.instrument.endswith("Perp:ETHUSDT")
    )
    assert short == pytest.approx(eth_staked, rel=0.01)

    # the last assessment of each instant: within one, the spot fill is booked before the shorts' fills
    settled = {m.ts: m.delta_drift for _, _, m in read_log(run.store_url, run.run_id, "evt.risk.assessment")}
    assert settled and max(settled.values()) < 0.03, max(settled.values())
    assert summary["instructions"]["rejected"] == 0
    attribution = summary["attribution"]
    assert attribution["staking"] > 0.0 and attribution["funding"] > 0.0 and attribution["rewards"] > 0.0
    assert abs(attribution["price"]) < 0.005 * summary["initial_equity"]  # hedged: the price barely counts


def test_hedged_leverage_is_built_in_one_bundle_after_the_shorts(full_runs: dict[str, FullRun]) -> None:
    """usdt_eth_staking_hedged_leveraged: the shorts open at one instant; then one flash-loan bundle stakes
    the ETH that reached the wallet with as much borrowed WETH, to 5× collateral and 4× debt of the net
    ETH (target_ltv 0.8), which the shorts hedge; the health factor stays near eMode's 0.95 / 0.8."""
    run = full_runs["usdt_eth_staking_hedged_leveraged"]
    summary = run.summary
    fills = [
        m
        for _, _, m in read_log(run.store_url, run.run_id, "evt.>")
        if isinstance(m, (InstructionFilled, TransferCompleted))
    ]
    shorts = [m for m in fills if any(c.instrument.endswith(":Perp:ETHUSDT") for c in m.changes)]
    opened = shorts[0].ts
    short = -sum(
        c.delta for m in shorts if m.ts == opened for c in m.changes if c.instrument.endswith("Perp:ETHUSDT")
    )
    bundles = [m for m in fills if isinstance(m, InstructionFilled) and m.venue == "instadapp"]
    assert bundles and bundles[0].ts > opened
    entry = {c.instrument: c.delta for c in bundles[0].changes}
    assert entry["aave_v3:debtToken:debtWETH"] == pytest.approx(4.0 * short, rel=0.01)
    rates = [
        (utc_ns(r["timestamp"]), float(r["price_eth"]))
        for r in read_rows("aave_v3/oracle_weeth_eth_daily.csv")
    ]
    rate = [v for ts, v in rates if ts <= bundles[0].ts][-1]
    assert entry["aave_v3:aToken:aweETH"] * rate == pytest.approx(5.0 * short, rel=0.01)
    assert summary["instructions"]["rejected"] == 0

    last: dict[int, tuple[float | None, float]] = {}
    for _, _, m in read_log(run.store_url, run.run_id, "evt.risk.assessment"):
        last[m.ts] = (m.health_factor, m.delta_drift)  # type: ignore[attr-defined]
    health = [h for h, _ in last.values() if h is not None]
    assert health and all(1.12 < h < 1.30 for h in health), (min(health), max(health))
    assert max(d for _, d in last.values()) < 0.03
    attribution = summary["attribution"]
    assert attribution["staking"] > -attribution["borrow_cost"] > 0.0  # the levered carry is positive
    assert attribution["funding"] > 0.0 and attribution["rewards"] > 0.0
    assert abs(attribution["price"]) < 0.01 * summary["initial_equity"]


def test_idle_collateral_is_redeployed_only_on_the_optimizers_execute(full_runs: dict[str, FullRun]) -> None:
    """usdt_eth_staking_hedged_simple: after the price falls the shorts need less margin; growing the book
    with the idle USDT is put to the rebalancing optimizer, whose every verdict is in the log with its
    inputs; the book grows exactly when the answer is EXECUTE (the gain over the horizon above 1.5 × the
    cost) and the decision that grows it follows the verdict at the same instant."""
    run = full_runs["usdt_eth_staking_hedged_simple"]
    log = [m for _, _, m in read_log(run.store_url, run.run_id, "evt.strategy.>")]
    verdicts = [m for m in log if isinstance(m, RebalanceAssessed)]
    assert {v.answer for v in verdicts} >= {"EXECUTE", "DEFER"}, {v.answer for v in verdicts}
    for v in verdicts:
        gain = (v.yield_after_usd - v.yield_before_usd) * v.horizon_days / 365.0
        assert v.gain_usd == pytest.approx(gain)
        expected = (
            "EXECUTE" if gain > v.margin * v.cost_usd else ("DEFER" if v.cost_usd > gain else "NEUTRAL")
        )
        assert v.answer == expected and v.reasons and v.proposal.startswith("size ")
    grown = [m for m in log if isinstance(m, StrategyDecided) and "optimizer EXECUTE" in m.reason]
    executes = [v for v in verdicts if v.answer == "EXECUTE"]
    assert [m.ts for m in grown] == [v.ts for v in executes]
    for decision in grown:
        before = log[log.index(decision) - 1]
        assert isinstance(before, RebalanceAssessed) and before.answer == "EXECUTE"
