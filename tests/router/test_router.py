"""The execution router over a real bus: splitting, routing, retries in clock time, outcomes."""

from __future__ import annotations

from typing import Any

import pytest
from routerutil import Rig
from venuedoubles import Reject

from basis.bus.messages import (
    AtomicBundle,
    FlashLoan,
    Instruction,
    PerpTrade,
    RouteCompleted,
    Side,
    SpotTrade,
    Stake,
    Step,
    Supply,
    Transfer,
)
from basis.components.router import ActionMap, RouterParams, RoutingError

ALLOCATION = {"binance": 0.4, "bybit": 0.3, "okx": 0.3}


def params(allocation: dict[str, float] | None = None, **kwargs: object) -> RouterParams:
    return RouterParams(actions=ActionMap.build(hedge_allocation=allocation or ALLOCATION), **kwargs)  # type: ignore[arg-type]


def hedge(
    rig: Rig, quantity: float = 1.0, side: Side = "sell", *, reduce_only: bool = False, **fields: Any
) -> Instruction:
    trade = PerpTrade(symbol="BTCUSDT", side=side, quantity=quantity, reduce_only=reduce_only)
    return rig.instruct(trade, route="hedge", **fields)


async def test_a_hedge_is_split_by_the_allocation_and_completes_when_every_leg_filled() -> None:
    rig = await Rig().start(params(), binance=(), bybit=(), okx=())
    parent = hedge(rig, correlation_id="decision-7")
    await rig.send(parent)

    children = rig.children()
    assert [(c.venue, c.action.quantity, c.action.side, c.action.symbol) for c in children] == [  # type: ignore[union-attr]
        ("binance", 0.4, "sell", "BTCUSDT"),
        ("bybit", 0.3, "sell", "BTCUSDT"),
        ("okx", 0.3, "sell", "BTCUSDT"),
    ]
    assert all(isinstance(c.action, PerpTrade) and c.route == "hedge" for c in children)
    assert len({c.id for c in children} | {parent.id}) == 4
    assert {(c.causation_id, c.correlation_id) for c in children} == {(parent.id, "decision-7")}
    assert [v.received for v in rig.venues.values()] == [[c] for c in children]

    [outcome] = rig.outcomes()
    assert (outcome.instruction_id, outcome.filled, outcome.reason, outcome.attempts) == (
        parent.id,
        True,
        "",
        3,
    )
    assert outcome.children == tuple(c.id for c in children)
    assert outcome.correlation_id == "decision-7"
    assert rig.tape.messages[-1] is outcome  # reported after the last fill


async def test_venues_with_zero_allocation_are_skipped() -> None:
    rig = await Rig().start(params({"binance": 0.5, "bybit": 0.0, "okx": 0.5}), binance=(), bybit=(), okx=())
    await rig.send(hedge(rig, 2.0, side="buy", reduce_only=True))
    assert [(c.venue, c.action.quantity, c.action.reduce_only) for c in rig.children()] == [  # type: ignore[union-attr]
        ("binance", 1.0, True),
        ("okx", 1.0, True),
    ]
    assert rig.venues["bybit"].received == []
    assert rig.outcomes()[0].filled


async def test_weights_are_normalised() -> None:
    rig = await Rig().start(params({"binance": 2.0, "bybit": 1.0, "okx": 1.0}), binance=(), bybit=(), okx=())
    await rig.send(hedge(rig, 1.0))
    assert [c.action.quantity for c in rig.children()] == [0.5, 0.25, 0.25]  # type: ignore[union-attr]


async def test_single_venue_actions_keep_the_size_and_go_to_the_configured_venue() -> None:
    rig = await Rig().start(params(), binance=(), aave_v3=())
    spot = rig.instruct(SpotTrade(symbol="BTCUSDT", side="buy", quantity=0.123456789))
    supply = rig.instruct(Supply(asset="USDT", amount=1000.0))
    await rig.send(spot, supply)
    [spot_child] = rig.children("binance")
    [supply_child] = rig.children("aave_v3")
    assert isinstance(spot_child.action, SpotTrade) and spot_child.action.quantity == 0.123456789
    assert isinstance(supply_child.action, Supply) and supply_child.action.amount == 1000.0
    assert [(o.instruction_id, o.filled) for o in rig.outcomes()] == [(spot.id, True), (supply.id, True)]


async def test_an_atomic_bundle_goes_unsplit_to_the_bundle_venue() -> None:
    actions = ActionMap.build(hedge_allocation=ALLOCATION, flash_loan="instadapp")
    rig = await Rig().start(RouterParams(actions=actions), instadapp=(), aave_v3=(), lido=())
    bundle = AtomicBundle(
        steps=(
            Step(venue="lido", action=Stake(token="stETH", amount=10.0)),
            Step(venue="aave_v3", action=Supply(asset="stETH", amount=10.0)),
        ),
        flash_loan=FlashLoan(venue="aave_v3", asset="WETH", amount=10.0),
    )
    parent = rig.instruct(bundle, correlation_id="decision-9")
    await rig.send(parent)

    [child] = rig.children()
    assert (child.venue, child.kind) == ("instadapp", "bundle")
    assert child.action == parent.action == bundle  # one child, steps and flash loan unchanged
    assert isinstance(child.action, AtomicBundle) and [s.venue for s in child.action.steps] == [
        "lido",
        "aave_v3",
    ]
    assert child.id != parent.id
    assert (child.causation_id, child.correlation_id) == (parent.id, "decision-9")
    assert rig.venues["instadapp"].received == [child]
    assert rig.venues["lido"].received == [] and rig.venues["aave_v3"].received == []

    [outcome] = rig.outcomes()
    assert (outcome.instruction_id, outcome.filled, outcome.reason, outcome.attempts) == (
        parent.id,
        True,
        "",
        1,
    )
    assert outcome.children == (child.id,)


async def test_a_transient_rejection_is_retried_with_backoff_in_clock_time() -> None:
    rig = await Rig().start(
        params(retry_delay_s=60.0, retry_backoff=2.0, max_attempts=3),
        binance=(),
        bybit=(Reject("rate_limited", transient=True), Reject("venue_unavailable", transient=True)),
        okx=(),
    )
    parent = hedge(rig)
    await rig.send(parent)
    assert rig.outcomes() == []
    assert len(rig.venues["bybit"].received) == 1

    await rig.tick(59)
    assert len(rig.venues["bybit"].received) == 1  # first retry due 60 s after the rejection
    await rig.tick(1)
    assert len(rig.venues["bybit"].received) == 2
    await rig.tick(119)
    assert len(rig.venues["bybit"].received) == 2  # second retry waits twice as long
    assert rig.outcomes() == []
    await rig.tick(1)

    first, second, third = rig.venues["bybit"].received
    assert first.id != second.id != third.id
    assert {c.causation_id for c in (first, second, third)} == {parent.id}
    assert [c.action.quantity for c in (first, second, third)] == [0.3, 0.3, 0.3]  # type: ignore[union-attr]
    [outcome] = rig.outcomes()
    assert (outcome.filled, outcome.attempts, outcome.reason) == (True, 5, "")
    assert outcome.children[-1] == third.id


async def test_the_router_gives_up_after_max_attempts() -> None:
    always = [Reject("rate_limited", transient=True)] * 10
    rig = await Rig().start(params(retry_delay_s=10.0, max_attempts=3), binance=(), bybit=always, okx=())
    parent = hedge(rig)
    await rig.send(parent)
    for _ in range(10):
        await rig.tick(60)
    assert len(rig.venues["bybit"].received) == 3
    [outcome] = rig.outcomes()
    assert (outcome.instruction_id, outcome.filled) == (parent.id, False)
    assert outcome.reason == "bybit: rate_limited after 3 attempts"
    assert outcome.attempts == 5
    assert [rig.venues[v].received[0].id in outcome.children for v in ("binance", "okx")] == [True, True]


async def test_a_permanent_rejection_fails_its_leg_at_once_and_names_the_venue() -> None:
    rig = await Rig().start(
        params(), binance=(), bybit=(Reject("insufficient_margin"),), okx=(Reject("no_price"),)
    )
    await rig.send(hedge(rig))
    [outcome] = rig.outcomes()
    assert not outcome.filled
    assert outcome.reason == "bybit: insufficient_margin; okx: no_price"
    assert outcome.attempts == 3 and len(outcome.children) == 1
    await rig.tick(3600)
    assert [len(v.received) for v in rig.venues.values()] == [1, 1, 1]


async def test_a_transfer_goes_to_its_source_account_and_completes_when_the_funds_arrive() -> None:
    rig = Rig()
    await rig.start(params())
    wallet = await rig.add_venue("wallet", arrival_delay_ns=1_800 * 10**9)
    transfer = rig.instruct(
        Transfer(source="wallet", destination="bybit", asset="USDT", amount=5000.0),
        route="wallet_transfer",
    )
    await rig.send(transfer)
    [child] = wallet.received
    assert isinstance(child.action, Transfer) and (
        child.venue,
        child.action.amount,
        child.action.destination,
    ) == (
        "wallet",
        5000.0,
        "bybit",
    )
    assert rig.outcomes() == []  # departed, not arrived
    await rig.tick(1_800)
    [outcome] = rig.outcomes()
    assert outcome.filled and outcome.children == (child.id,)


async def test_transfers_to_the_investor_complete_at_the_fill() -> None:
    rig = Rig()
    await rig.start(params())
    await rig.add_venue("wallet", arrival_delay_ns=10**12)
    await rig.send(rig.instruct(Transfer(source="wallet", destination="investor", asset="USDT", amount=1.0)))
    assert rig.outcomes()[0].filled


async def test_instructions_without_a_route_are_rejected_with_the_reason() -> None:
    rig = await Rig().start(params(), binance=())
    stake = rig.instruct(Stake(token="weETH", amount=1.0))
    steps = (Step(venue="aave_v3", action=Supply(asset="USDT", amount=1.0)),)
    bundle = rig.instruct(AtomicBundle(steps=steps), route="hedge")
    await rig.send(stake, bundle)
    assert [(o.instruction_id, o.filled, o.reason) for o in rig.outcomes()] == [
        (stake.id, False, "no venue configured for action staking"),
        (bundle.id, False, "bundle cannot be split across 3 venues"),
    ]
    assert rig.children() == []


async def test_instructions_for_a_concrete_venue_bypass_the_router() -> None:
    rig = await Rig().start(params(), binance=())
    direct = rig.instruct(SpotTrade(symbol="BTCUSDT", side="buy", quantity=1.0), venue="binance")
    await rig.send(direct)
    assert rig.venues["binance"].received == [direct]
    assert rig.outcomes() == []
    assert rig.router is not None and rig.router.routes == {}


async def test_a_redelivered_parent_is_routed_once() -> None:
    rig = await Rig().start(params(), binance=(), bybit=(), okx=())
    parent = hedge(rig)
    await rig.send(parent, parent)
    assert len(rig.children()) == 3 and len(rig.outcomes()) == 1


def test_action_map_rules() -> None:
    with pytest.raises(ValueError, match="every venue has weight 0"):
        ActionMap(venues={"hedge": {"binance": 0.0}})
    with pytest.raises(ValueError, match="cannot route to itself"):
        ActionMap(venues={"spot": {"router": 1.0}})
    with pytest.raises(ValueError, match="max_attempts must be >= 1"):
        RouterParams(actions=ActionMap(venues={}), max_attempts=0)
    actions = ActionMap.build(hedge_allocation={"binance": 0.0}, spot="bybit", staking="etherfi")
    assert "hedge" not in actions.venues and actions.venues["staking"] == {"etherfi": 1.0}
    with pytest.raises(RoutingError, match="no venue configured for action hedge"):
        trade = PerpTrade(symbol="BTCUSDT", side="buy", quantity=1.0)
        actions.legs(Instruction(id="x", ts=0, venue="router", action=trade))
    assert RouterParams(actions=actions, retry_delay_s=30, retry_backoff=3).retry_delay_ns(3) == 270 * 10**9


async def test_outcome_is_a_route_completed_on_its_own_subject() -> None:
    rig = await Rig().start(params(), binance=())
    received: list[RouteCompleted] = []

    async def collect(message: RouteCompleted) -> None:
        received.append(message)

    await rig.bus.subscribe("evt.router.completed", collect, types=(RouteCompleted,))
    await rig.send(rig.instruct(SpotTrade(symbol="BTCUSDT", side="sell", quantity=1.0)))
    assert len(received) == 1 and received[0].filled
