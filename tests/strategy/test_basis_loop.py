"""btc_basis and eth_basis end to end: simulated venues, the four monitors, the router and the strategy on
one in-process bus, driven by synthetic hourly market data."""

from __future__ import annotations

import itertools
import math

import pytest
from strategystack import Stack

from basis.bus.messages import (
    FlowBooked,
    Instruction,
    InstructionRejected,
    Message,
    PerpTrade,
    PnlSnapshot,
    RiskAssessment,
    RouteCompleted,
    SpotTrade,
    StrategyDecided,
    Transfer,
)
from basis.components.risk_monitor import RiskLimits
from basis.components.router.actions import action_of
from basis.components.strategy import BasisParams

approx = pytest.approx
ALLOCATION = {"binance": 0.4, "bybit": 0.3, "okx": 0.3}
PERPS = tuple(f"{v}:Perp:BTCUSDT" for v in ALLOCATION)


def basis(**overrides: object) -> BasisParams:
    fields: dict[str, object] = {
        "share_class": "USDT",
        "asset": "BTC",
        "hedge_allocation": ALLOCATION,
        "margin_buffer": 0.43,
        "margin_warning": 0.30,
    }
    return BasisParams(**{**fields, **overrides})  # type: ignore[arg-type]


async def entered(stack: Stack, capital: float = 100_000.0, btc: float = 60_000.0) -> Stack:
    await stack.start()
    await stack.hour(btc=btc)
    await stack.deposit(capital)
    for _ in range(3):
        await stack.hour(btc=btc)
    return stack


def hedge(stack: Stack) -> float:
    return -sum(stack.qty(k) for k in PERPS)


def margin_ratios(stack: Stack) -> dict[str, float]:
    return stack.tape.of(RiskAssessment)[-1].margin_ratios


def instructions_of(stack: Stack, decision: StrategyDecided) -> list[Instruction]:
    return stack.tape.sent_by(decision)


def index(log: list[Message], predicate: object) -> list[int]:
    return [i for i, m in enumerate(log) if predicate(m)]  # type: ignore[operator]


async def test_btc_basis_funds_the_venues_then_opens_both_legs_delta_neutral() -> None:
    stack = await entered(Stack("btc_basis", basis(), hedged_asset="BTC"))
    first, second, *rest, hold = stack.tape.decisions()
    assert (first.action, second.action, hold.action) == ("entry_full", "entry_full", "hold")
    # what the fee buffer kept back from the first buy is bought once it is known to be affordable
    assert all("completing the sizing" in d.reason or d.action == "hold" for d in rest)
    assert "investor capital moved" in first.reason
    # each decision carries the book it was taken on
    assert (first.equity, first.withdrawing, first.risk_level) == (approx(100_000.0), 0.0, "ok")
    assert second.equity is not None and 99_000.0 < second.equity <= 100_000.0
    sent = instructions_of(stack, first)
    assert [(type(i.action).__name__, i.venue, i.action.destination) for i in sent] == [  # type: ignore[union-attr]
        ("Transfer", "router", "binance"),
        ("Transfer", "router", "bybit"),
        ("Transfer", "router", "okx"),
    ]
    assert sum(i.action.amount for i in sent) == approx(100_000.0)  # type: ignore[union-attr]
    spot, short = instructions_of(stack, second)
    assert isinstance(spot.action, SpotTrade)
    assert (spot.action.side, spot.venue, action_of(spot)) == ("buy", "router", "spot")
    assert isinstance(short.action, PerpTrade) and (short.action.side, action_of(short)) == ("sell", "hedge")
    assert short.action.quantity == approx(spot.action.quantity)

    # S = E / (1 + m): about 100,000 / 1.43 of BTC, the hedge split 0.4 / 0.3 / 0.3
    size = stack.qty("binance:BaseToken:BTC")
    assert size * 60_000.0 == approx(100_000.0 / 1.43, rel=3e-3)
    assert hedge(stack) == approx(size, rel=1e-12)
    assert [-stack.qty(k) / size for k in PERPS] == approx([0.4, 0.3, 0.3])
    assert margin_ratios(stack) == approx({v: 0.43 for v in ALLOCATION}, abs=0.01)
    pnl = stack.tape.of(PnlSnapshot)[-1]
    assert pnl.net_flows == 100_000.0 and -200.0 < pnl.pnl < 0.0  # fees, slippage and gas only
    assert stack.tape.of(RiskAssessment)[-1].level == "ok"
    assert stack.dead_letters() == 0


async def test_the_strategy_waits_for_every_outcome_before_deciding_again() -> None:
    stack = await entered(Stack("btc_basis", basis(), hedged_asset="BTC"))
    log = stack.tape.messages
    first, second = stack.tape.decisions()[:2]
    outcomes = index(
        log, lambda m: isinstance(m, RouteCompleted) and m.instruction_id in first.instruction_ids
    )
    pnl_between = index(log, lambda m: isinstance(m, PnlSnapshot))
    decided_at = log.index(second)
    assert len(outcomes) == 3 and max(outcomes) < decided_at
    # PnL snapshots arrived while the transfers were in flight (the wallet's fills), and were ignored
    assert any(log.index(first) < i < max(outcomes) for i in pnl_between)
    # the decision is published before the instructions it causes
    for decision in (first, second):
        sent = [
            i for i, m in enumerate(log) if isinstance(m, Instruction) and m.id in decision.instruction_ids
        ]
        assert min(sent) > log.index(decision)
        assert {log[i].causation_id for i in sent} == {decision.id}


async def test_a_price_move_is_held_and_equity_moving_past_the_threshold_resizes() -> None:
    stack = await entered(Stack("btc_basis", basis(), hedged_asset="BTC"))
    before = len(stack.tape.decisions())
    size = stack.qty("binance:BaseToken:BTC")
    for btc in (61_200.0, 62_400.0, 57_600.0, 60_000.0):  # ±4 %: margin ratios stay within [0.365, ∞)
        await stack.hour(btc=btc)
    assert [d.action for d in stack.tape.decisions()[before:] if d.action != "hold"] == []
    assert stack.qty("binance:BaseToken:BTC") == size
    await stack.funding(0.04)  # the short earns 4 % of 70,000: equity +2.6 % since sized (100,000) > 2 %
    await stack.hour(btc=60_000.0)
    decision = next(d for d in stack.tape.decisions()[before:] if d.action != "hold")
    assert decision.action == "entry_partial"
    assert decision.reason.startswith("equity 10")
    spot, short = instructions_of(stack, decision)[:2]
    assert isinstance(spot.action, SpotTrade) and spot.action.side == "buy"
    assert isinstance(short.action, PerpTrade) and short.action.side == "sell"


async def test_a_margin_warning_moves_collateral_from_the_spot_venue_to_the_others() -> None:
    # a wide deviation threshold so that only the margin warning can trigger
    stack = await entered(Stack("btc_basis", basis(position_deviation_threshold=0.5), hedged_asset="BTC"))
    before = len(stack.tape.decisions())
    await stack.hour(btc=62_400.0)  # +4 %: margin ratio (0.43 − 0.04) / 1.04 = 0.375, within the band
    assert stack.tape.decisions()[before:] == []
    await stack.hour(btc=64_800.0)  # +8 %: (0.43 − 0.08) / 1.08 = 0.324 < floor (0.30 + 0.43) / 2
    for _ in range(4):
        await stack.hour(btc=64_800.0)
    decisions = [d for d in stack.tape.decisions()[before:] if d.action != "hold"]
    assert "margin ratio" in decisions[0].reason
    # first sell spot and buy back perps, then move the freed USDT: binance → wallet → bybit, okx
    assert [type(i.action) for i in instructions_of(stack, decisions[0])] == [SpotTrade, PerpTrade]
    moves = [i.action for d in decisions for i in instructions_of(stack, d) if isinstance(i.action, Transfer)]
    assert {(t.source, t.destination) for t in moves} == {
        ("binance", "wallet"),
        ("wallet", "bybit"),
        ("wallet", "okx"),
    }
    assert sum(t.amount for t in moves if t.destination == "wallet") == approx(
        sum(t.amount for t in moves if t.source == "wallet"), abs=50.0
    )
    assert margin_ratios(stack) == approx({v: 0.43 for v in ALLOCATION}, abs=0.01)
    assert hedge(stack) == approx(stack.qty("binance:BaseToken:BTC"), rel=1e-9)
    assert stack.dead_letters() == 0


async def test_a_critical_risk_only_ever_reduces() -> None:
    # limits above the margin buffer: a freshly opened trade is already critical
    limits = RiskLimits(margin_warning=0.5, margin_critical=0.45)
    stack = Stack("btc_basis", basis(), hedged_asset="BTC", limits=limits)
    await stack.start()
    await stack.hour(btc=60_000.0)
    await stack.deposit(100_000.0)
    await stack.hour(btc=60_000.0)
    [first, second, cut, *_] = [d for d in stack.tape.decisions() if d.action != "hold"]
    assert (first.action, second.action, cut.action) == ("entry_full", "entry_full", "exit_partial")
    assert (
        cut.reason
        == "risk critical (margin_ratio:binance<0.45, margin_ratio:bybit<0.45, margin_ratio:okx<0.45): scale down 25%, reduce-only"
    )
    spot, short = instructions_of(stack, cut)
    bought = instructions_of(stack, second)[0]
    assert isinstance(bought.action, SpotTrade) and isinstance(spot.action, SpotTrade)
    assert spot.action.side == "sell" and spot.action.quantity == approx(bought.action.quantity * 0.25)
    assert isinstance(short.action, PerpTrade) and short.action.side == "buy" and short.action.reduce_only
    # one cut per clock instant: the same instant saw no second cut
    same_instant = [d for d in stack.tape.decisions() if d.ts == cut.ts and d.action == "exit_partial"]
    assert same_instant == [cut]


async def test_a_withdrawal_unwinds_one_for_one_and_pays_the_investor_from_the_wallet() -> None:
    stack = await entered(Stack("btc_basis", basis(), hedged_asset="BTC"))
    spot_before = stack.qty("binance:BaseToken:BTC")
    equity_before = stack.tape.of(PnlSnapshot)[-1].equity
    request = await stack.withdraw(20_000.0)
    for _ in range(6):
        await stack.hour(btc=60_000.0)

    [paid] = [f for f in stack.tape.of(FlowBooked) if f.kind == "withdrawal"]
    assert (paid.amount, paid.asset, paid.request_id) == (20_000.0, "USDT", request.id)
    payout = next(
        i
        for i in stack.tape.carrying(Transfer)
        if isinstance(i.action, Transfer) and i.action.destination == "investor"
    )
    assert isinstance(payout.action, Transfer)
    assert (payout.venue, payout.action.source, payout.correlation_id) == ("wallet", "wallet", request.id)
    kept = (equity_before - 20_000.0) / equity_before
    assert stack.qty("binance:BaseToken:BTC") / spot_before == approx(kept, abs=2e-3)
    assert hedge(stack) == approx(stack.qty("binance:BaseToken:BTC"), rel=1e-9)
    assert len(stack.strategy.withdrawals) == 0
    assert stack.tape.decisions()[-1].action == "hold"
    assert stack.dead_letters() == 0


async def test_a_withdrawal_in_another_asset_is_refused() -> None:
    stack = await entered(Stack("btc_basis", basis(), hedged_asset="BTC"))
    request = await stack.withdraw(1.0, asset="BTC")
    refusal = stack.tape.decisions()[-1]
    assert (refusal.action, refusal.causation_id) == ("hold", request.id)
    assert refusal.reason == f"withdrawal {request.id} refused: amount in BTC, share class is USDT"
    assert len(stack.strategy.withdrawals) == 0


async def test_a_failed_leg_is_unwound_at_once_and_retried_later_and_less_often() -> None:
    # no spot venue: every spot buy is refused by the router while its hedge fills
    stack = await entered(Stack("btc_basis", basis(), hedged_asset="BTC", spot_venue=None))
    for _ in range(12):
        await stack.hour(btc=60_000.0)
    failed = [o for o in stack.tape.of(RouteCompleted) if not o.filled]
    assert failed and {o.reason for o in failed} == {"no venue configured for action spot"}
    assert stack.tape.of(InstructionRejected) == []  # the router refused; no venue saw a bad order
    acted = [d for d in stack.tape.decisions() if d.action != "hold"][1:]
    attempts = [d for d in acted if d.action == "entry_full"]
    cuts = [d for d in acted if d.action == "exit_partial"]
    # each naked short is bought back by a reduce-only risk override before the next attempt
    assert [d.action for d in acted[: 2 * len(cuts)]] == ["entry_full", "exit_partial"] * len(cuts)
    for cut in cuts:
        [buy_back] = instructions_of(stack, cut)
        assert isinstance(buy_back.action, PerpTrade)
        assert buy_back.action.side == "buy" and buy_back.action.reduce_only
        assert cut.reason.startswith("risk critical (delta_drift:BTC>0.05)")
    # retries wait longer and longer (600 s doubled per failure, on the hourly clock)
    gaps = [b.ts - a.ts for a, b in itertools.pairwise(attempts)]
    assert gaps == sorted(gaps) and gaps[-1] > gaps[0]
    assert stack.qty("binance:BaseToken:BTC") == 0.0


async def test_btc_basis_runs_a_synthetic_day_delta_neutral() -> None:
    stack = await entered(Stack("btc_basis", basis(), hedged_asset="BTC"))
    for hour in range(24):
        price = 60_000.0 * (1.0 + 0.03 * math.sin(hour / 4.0))
        if hour % 8 == 0:
            await stack.funding(0.0001)
        await stack.hour(btc=price)
    risk = stack.tape.of(RiskAssessment)
    # mid-batch assessments (spot filled, hedge not yet) may be critical; the strategy waits those out.
    # At the end of every instant the book is neutral again.
    settled = {r.ts: r for r in risk}
    assert all(r.level == "ok" for r in settled.values())
    assert risk[-1].delta_drift < 1e-9
    assert all(0.30 < ratio < 0.5 for ratio in risk[-1].margin_ratios.values())
    pnl = stack.tape.of(PnlSnapshot)[-1]
    assert pnl.attribution["funding"] > 0.0
    assert stack.pnl.ledger.remainder == approx(0.0, abs=1e-6)
    assert pnl.equity == approx(100_000.0, rel=5e-3)
    assert stack.dead_letters() == 0


async def test_the_same_run_decides_the_same_way() -> None:
    async def run() -> list[tuple[str, str, tuple[str, ...]]]:
        stack = await entered(Stack("btc_basis", basis(), hedged_asset="BTC"))
        await stack.withdraw(10_000.0)
        for hour in range(6):
            await stack.hour(btc=60_000.0 + 500.0 * hour)
        return [(d.id, d.reason, d.instruction_ids) for d in stack.tape.decisions()]

    assert await run() == await run()


async def test_eth_basis_takes_eth_sells_part_for_margin_and_pays_back_in_eth() -> None:
    params = basis(share_class="ETH", asset="ETH")
    stack = Stack("eth_basis", params)
    await stack.start()
    await stack.hour(eth=3_000.0)
    await stack.deposit(50.0, asset="ETH")
    for _ in range(6):
        await stack.hour(eth=3_000.0)
    size = stack.qty("binance:BaseToken:ETH")
    assert size == approx(50.0 / 1.43, rel=3e-3)
    assert -sum(stack.qty(f"{v}:Perp:ETHUSDT") for v in ALLOCATION) == approx(size, rel=1e-4)
    assert margin_ratios(stack) == approx({v: 0.43 for v in ALLOCATION}, abs=0.01)
    equity = stack.tape.of(PnlSnapshot)[-1]
    assert equity.share_class == "ETH" and equity.equity == approx(50.0, rel=3e-3)

    request = await stack.withdraw(10.0, asset="ETH")
    for _ in range(8):
        await stack.hour(eth=3_000.0)
    [paid] = [f for f in stack.tape.of(FlowBooked) if f.kind == "withdrawal"]
    assert (paid.asset, paid.request_id) == ("ETH", request.id)
    assert paid.amount == approx(10.0, rel=params.payout_tolerance)
    assert stack.qty("binance:BaseToken:ETH") == approx(size * 0.8, rel=5e-3)
    assert stack.dead_letters() == 0
