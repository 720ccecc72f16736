"""Instruction lifecycles through the router: partial fills, cancellations, deadlines, status queries and
reconciliation, against venue doubles that fill in parts, never answer, or lose an instruction."""

from __future__ import annotations

import pytest
from routerutil import Rig
from venuedoubles import LOST, SILENT, UNPUBLISHED, Parts, Revert

from basis.bus.messages import (
    AtomicBundle,
    Borrow,
    FlashLoan,
    InstructionFilled,
    InstructionStatus,
    LegOutcome,
    PerpTrade,
    QueryStatus,
    SpotTrade,
    Stake,
    Step,
    Supply,
    TransactionReverted,
)
from basis.components.router import ActionMap, RouterParams

TIMEOUT_S = 60.0


def params(**kwargs: object) -> RouterParams:
    return RouterParams(
        actions=ActionMap.build(hedge_allocation={"binance": 0.5, "okx": 0.5}),
        answer_timeout_s=TIMEOUT_S,
        **kwargs,  # type: ignore[arg-type]
    )


def hedge(rig: Rig, quantity: float = 0.9) -> object:
    return rig.instruct(PerpTrade(symbol="BTCUSDT", side="sell", quantity=quantity), correlation_id="d.1")


async def test_children_carry_a_deadline() -> None:
    rig = await Rig().start(params(), binance=(), okx=())
    await rig.send(hedge(rig))  # type: ignore[arg-type]
    assert {c.deadline_ns for c in rig.children()} == {rig.clock.now_ns() + round(TIMEOUT_S * 1e9)}


async def test_a_venue_that_fills_in_three_parts_completes_its_leg_after_the_last() -> None:
    rig = await Rig().start(params(), binance=[Parts(3)], okx=())
    await rig.send(hedge(rig))  # type: ignore[arg-type]
    assert rig.outcomes() == []  # okx filled, binance has a third of its 0.45

    await rig.tick(TIMEOUT_S)  # second part; the deadline passes: the router asks, the venue says open
    [query] = rig.tape.of(QueryStatus)
    [status] = rig.tape.of(InstructionStatus)
    assert (query.venue, status.state, len(status.outcomes)) == ("binance", "partially_filled", 2)
    assert rig.outcomes() == []

    await rig.tick(1.0)  # the last part
    fills = [m for m in rig.tape.of(InstructionFilled) if m.venue == "binance"]
    assert [f.remaining for f in fills] == pytest.approx([0.3, 0.15, 0.0])  # type: ignore[attr-defined]
    [outcome] = rig.outcomes()
    assert outcome.filled
    assert outcome.legs == (
        LegOutcome(venue="binance", state="filled", requested=0.45, filled=0.45),
        LegOutcome(venue="okx", state="filled", requested=0.45, filled=0.45),
    )


async def test_a_venue_that_cancels_part_way_leaves_a_partially_filled_leg() -> None:
    rig = await Rig().start(params(), binance=[Parts(3, cancel_after=1)], okx=())
    await rig.send(hedge(rig))  # type: ignore[arg-type]
    await rig.tick(1.0)
    [outcome] = rig.outcomes()
    assert not outcome.filled
    [binance, okx] = outcome.legs
    assert (binance.state, binance.requested) == ("partially_filled", 0.45)
    assert binance.filled == pytest.approx(0.15)
    assert binance.reason == "cancelled (cancelled by the venue) with 0.15 of 0.45 filled"
    assert outcome.reason == f"binance: {binance.reason}"
    assert okx.state == "filled"
    assert len(outcome.children) == 2  # both children moved balances


async def test_a_venue_that_never_answers_fails_its_leg_after_the_status_queries() -> None:
    rig = await Rig().start(params(max_status_queries=3), binance=[SILENT], okx=())
    await rig.send(hedge(rig))  # type: ignore[arg-type]
    for _ in range(3):
        await rig.tick(TIMEOUT_S)
        assert rig.outcomes() == []
    assert len(rig.venues["binance"].queries) == 3
    await rig.tick(TIMEOUT_S)  # the third query's deadline: no more asking
    [outcome] = rig.outcomes()
    assert not outcome.filled
    assert outcome.reason == "binance: no final answer after 3 status queries"
    assert [leg.state for leg in outcome.legs] == ["failed", "filled"]
    assert len(rig.venues["binance"].queries) == 3


async def test_a_lost_child_is_sent_again_with_the_same_id_and_executed_once() -> None:
    rig = await Rig().start(params(), binance=[LOST], okx=())
    await rig.send(hedge(rig))  # type: ignore[arg-type]
    await rig.tick(TIMEOUT_S)
    [status] = rig.tape.of(InstructionStatus)
    assert status.state == "unknown"  # type: ignore[attr-defined]
    received = rig.venues["binance"].received
    assert [i.id for i in received] == [received[0].id] * 2  # the same child, sent again
    [outcome] = rig.outcomes()
    assert outcome.filled and outcome.attempts == 2
    assert len([f for f in rig.tape.of(InstructionFilled) if f.venue == "binance"]) == 1  # type: ignore[attr-defined]


async def test_an_outcome_seen_only_through_the_status_query_is_reconciled() -> None:
    rig = await Rig().start(
        RouterParams(actions=ActionMap.build(spot="binance"), answer_timeout_s=TIMEOUT_S),
        binance=[UNPUBLISHED],
    )
    parent = rig.instruct(SpotTrade(symbol="BTCUSDT", side="buy", quantity=0.2))
    await rig.send(parent)
    assert rig.outcomes() == []
    await rig.tick(TIMEOUT_S)
    [status] = rig.tape.of(InstructionStatus)
    assert status.state == "filled"  # type: ignore[attr-defined]
    [outcome] = rig.outcomes()
    assert outcome.filled
    assert outcome.children == (status.instruction_id,)  # type: ignore[attr-defined]
    assert outcome.legs == (LegOutcome(venue="binance", state="filled", requested=0.2, filled=0.2),)


async def test_no_deadline_no_query() -> None:
    rig = await Rig().start(
        RouterParams(actions=ActionMap.build(spot="binance"), answer_timeout_s=0), binance=[SILENT]
    )
    await rig.send(rig.instruct(SpotTrade(symbol="BTCUSDT", side="buy", quantity=0.2)))
    assert [c.deadline_ns for c in rig.children()] == [0]
    await rig.tick(10 * 86_400.0)
    assert rig.tape.of(QueryStatus) == [] and rig.outcomes() == []


async def test_a_reverted_bundle_fails_its_route_with_the_decoded_reason() -> None:
    bundle = AtomicBundle(
        steps=(
            Step(venue="lido", action=Stake(token="wstETH", amount=3.0)),
            Step(venue="aave_v3", action=Supply(asset="wstETH", amount=3.0)),
            Step(venue="aave_v3", action=Borrow(asset="WETH", amount=2.0)),
        ),
        flash_loan=FlashLoan(venue="morpho", asset="WETH", amount=2.0),
    )
    reason = "step 2: HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD"
    rig = await Rig().start(
        RouterParams(actions=ActionMap.build(flash_loan="instadapp"), answer_timeout_s=TIMEOUT_S),
        instadapp=[Revert(reason)],
    )
    await rig.send(rig.instruct(bundle))
    [reverted] = rig.tape.of(TransactionReverted)
    [outcome] = rig.outcomes()
    assert not outcome.filled
    assert outcome.reason == f"instadapp: reverted: {reason}"
    assert outcome.legs == (LegOutcome(venue="instadapp", state="failed", reason=f"reverted: {reason}"),)
    assert outcome.causation_id == reverted.id
    await rig.tick(10 * TIMEOUT_S)
    assert rig.tape.of(QueryStatus) == []  # a final answer: nothing left to ask


async def test_a_status_repeating_a_partial_fill_does_not_keep_the_leg_alive() -> None:
    """The status of an order that stopped filling repeats its partial fill: that is no progress, and the
    leg fails after its status queries."""
    rig = await Rig().start(params(max_status_queries=2), binance=[Parts(3, cancel_after=99)], okx=())
    rig.venues["binance"].stall_after = 1  # one part, then nothing more
    await rig.send(hedge(rig))  # type: ignore[arg-type]
    for _ in range(3):
        await rig.tick(TIMEOUT_S)
    [outcome] = rig.outcomes()
    assert not outcome.filled
    assert outcome.reason == "binance: no final answer after 2 status queries"
    assert len(rig.venues["binance"].queries) == 2
