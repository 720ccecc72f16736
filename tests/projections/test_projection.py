"""Projections rebuild positions, equity and attribution from a run's messages alone, bit for bit."""

from __future__ import annotations

import random

import msgspec
import pytest
from monitors.scenario import (
    RUN,
    H,
    Rig,
    bar,
    basis_scenario,
    fill,
    flow,
    lst,
    market,
    settled,
    tick,
)

from basis.bus.balances import BALANCE_EVENTS
from basis.bus.bus import Bus
from basis.bus.codec import decode
from basis.bus.messages import (
    ClockTicked,
    InstructionAccepted,
    Message,
    PnlSnapshot,
    PositionSnapshot,
)
from basis.bus.store import open_store
from basis.bus.subjects import stream_of
from basis.projections import (
    PnlProjection,
    PositionsProjection,
    RunProjection,
    project,
    replay,
    verify,
    verify_run,
)


def durable(rig: Rig) -> list[Message]:
    """What the store keeps: md, cmd and evt (no clock, no dead letters)."""
    return [
        decode(data)
        for subject, data, _ in rig.records
        if stream_of(subject) is not None and not subject.startswith("dlq.")
    ]


def random_run(seed: int, hours: int = 120) -> tuple[list[list[Message]], list[list[Message]]]:
    """Per hour: the market data and investor flows the feed publishes before its tick, and the venue
    events that follow the tick. Prices and quantities are arbitrary floats (no exact arithmetic)."""
    rng = random.Random(seed)
    btc, perp_premium, eth, rate = 60000.0, 15.0, 3000.0, 1.05
    before: list[list[Message]] = []
    after: list[list[Message]] = []
    for h in range(1, hours + 1):
        t = h * H
        btc *= 1 + rng.gauss(0, 0.004)
        eth *= 1 + rng.gauss(0, 0.005)
        perp_premium += rng.gauss(0, 2)
        md: list[Message] = []
        if not (30 <= h < 53):  # a 23-hour hole in the Binance files
            md.append(bar(t, "binance", "BTCUSDT", "spot", round(btc, 2)))
            md.append(bar(t, "binance", "BTCUSDT", "perp", round(btc + perp_premium, 2)))
        md.append(bar(t, "bybit", "ETHUSDT", "spot", round(eth, 2)))
        if h % 24 == 1:
            rate *= 1.0001
            md.append(lst(t, "weETH", rate))
        if h == 1:
            md.append(flow(t, "deposit", 250000.0, "binance:BaseToken:USDT"))
            md.append(flow(t, "deposit", 50000.0, "wallet:BaseToken:USDT"))
        elif rng.random() < 0.05:
            md.append(flow(t, "deposit", round(rng.uniform(100, 5000), 2), "binance:BaseToken:USDT"))
        before.append(md)
        events: list[Message] = []
        roll = rng.random()
        have_btc = not (30 <= h < 53)
        if have_btc and roll < 0.3:
            q = round(rng.uniform(0.01, 0.5), 4) * (1 if rng.random() < 0.6 else -1)
            px = btc * (1 + rng.uniform(-0.001, 0.001))
            fee = abs(q) * px * 0.001
            events.append(
                fill(
                    t,
                    "binance",
                    ("binance:BaseToken:BTC", q),
                    ("binance:BaseToken:USDT", -q * px - fee),
                    fee=fee,
                )
            )
            pq = -q
            ppx = (btc + perp_premium) * (1 + rng.uniform(-0.0005, 0.0005))
            pfee = abs(pq) * ppx * 0.0005
            events.append(
                fill(
                    t,
                    "binance",
                    ("binance:Perp:BTCUSDT", pq),
                    ("binance:PerpNotional:BTCUSDT", -pq * ppx),
                    ("binance:BaseToken:USDT", -pfee),
                    fee=pfee,
                )
            )
        elif roll < 0.4:
            amount = round(rng.uniform(100, 2000), 2)
            gas = rng.uniform(0.0005, 0.003)
            sign = 1 if rng.random() < 0.7 else -1
            events.append(
                fill(
                    t,
                    "aave_v3",
                    ("wallet:BaseToken:USDT", -sign * amount),
                    ("aave_v3:aToken:aUSDT", sign * amount),
                    ("wallet:BaseToken:ETH", -gas),
                    gas_eth=gas,
                )
            )
        elif roll < 0.45:
            eth_q = round(rng.uniform(0.1, 1.0), 3)
            gas = rng.uniform(0.0005, 0.003)
            events.append(
                fill(
                    t,
                    "etherfi",
                    ("wallet:BaseToken:USDT", -eth_q * eth * 1.002),
                    ("wallet:BaseToken:weETH", eth_q / rate),
                    ("wallet:BaseToken:ETH", -gas),
                    gas_eth=gas,
                )
            )
        if h % 8 == 0:
            events.append(settled(t, "binance:BaseToken:USDT", "funding", rng.uniform(-5, 40)))
        if h % 24 == 0:
            events.append(settled(t, "aave_v3:aToken:aUSDT", "lending_interest", rng.uniform(0, 3)))
        if rng.random() < 0.03:
            events.append(flow(t, "withdrawal", round(rng.uniform(100, 3000), 2), "binance:BaseToken:USDT"))
        after.append(events)
    return before, after


async def run_rig(share_class: str, seed: int, *, back_to_back: bool = True) -> Rig:
    rig = await Rig(share_class=share_class, hedged_asset="BTC").start()
    pending: list[Message] = []

    async def venue(message: InstructionAccepted) -> None:
        # publishes from inside a handler: the events are queued back to back before their loops run
        while pending:
            await venue_bus.publish(pending.pop(0))

    venue_bus = Bus(rig.transport, component="venue", run_id=RUN)
    await venue_bus.subscribe("evt.*.accepted", venue, types=(InstructionAccepted,))
    before, after = random_run(seed)
    for i, (md, events) in enumerate(zip(before, after, strict=True)):
        t = (i + 1) * H
        await rig.send(*md, tick(t))
        if back_to_back and len(events) > 1 and i % 2:
            pending.extend(events)
            await rig.send(InstructionAccepted(id=f"acc-{i}", ts=t, instruction_id=f"i-{i}", venue="binance"))
        else:
            await rig.send(*events)
    await rig.send(ClockTicked(id="final", ts=len(before) * H, final=True))
    return rig


def last(rig: Rig, cls: type[Message]) -> Message:
    message: Message = rig.of(cls)[-1]
    return message


def assert_same(projection: RunProjection, rig: Rig) -> None:
    positions = last(rig, PositionSnapshot)
    pnl = last(rig, PnlSnapshot)
    assert isinstance(positions, PositionSnapshot) and isinstance(pnl, PnlSnapshot)
    assert projection.positions.positions == positions.positions
    fields = projection.pnl.snapshot_fields()
    assert fields["equity"] == pnl.equity
    assert fields["net_flows"] == pnl.net_flows
    assert fields["pnl"] == pnl.pnl
    assert fields["attribution"] == pnl.attribution
    assert verify(projection, [positions, pnl]) == []


async def test_projection_of_the_basis_scenario_equals_the_monitors() -> None:
    rig = await Rig(hedged_asset="BTC").start()
    await rig.send(*basis_scenario())
    projection = project(rig.log)
    assert_same(projection, rig)
    assert verify(projection) == []
    assert projection.pnl.ledger.attribution["price"] == -24.0


@pytest.mark.parametrize("share_class", ["USDT", "ETH"])
async def test_projection_of_a_long_random_run_is_bit_identical(share_class: str) -> None:
    rig = await run_rig(share_class, seed=7)
    pnls = rig.of(PnlSnapshot)
    assert len(pnls) > 150 and rig.pnl.ledger.attribution["price"] != 0.0
    assert all(c.bus.dead_lettered == 0 for c in (rig.position, rig.exposure, rig.risk, rig.pnl))
    # from every delivered message (the clock included), from the store's streams (no clock), and
    # from market data and balance events alone (no monitor output)
    full = project(rig.log, share_class)
    stored = project(durable(rig), share_class)
    bare = project(
        [
            m
            for m in rig.log
            if isinstance(m, BALANCE_EVENTS)
            or m.__class__.__name__ in ("Bar", "LstRate", "OraclePrice", "ReserveState")
        ],
        share_class,
    )
    for projection in (full, stored, bare):
        assert_same(projection, rig)
        assert projection.pnl.price_errors == []
    assert verify(stored) == []


async def test_each_recorded_pnl_snapshot_is_reproduced_at_its_place_in_the_log() -> None:
    # one loop per event (with events queued back to back, a snapshot lags the log by design)
    rig = await run_rig("USDT", seed=11, back_to_back=False)
    log = durable(rig)
    projection = PnlProjection("USDT")
    matched = 0
    for message in log:
        projection.process_event(message)
        if isinstance(message, PnlSnapshot):
            fields = projection.snapshot_fields()
            assert (fields["equity"], fields["attribution"]) == (message.equity, message.attribution)
            matched += 1
    assert matched == len(rig.of(PnlSnapshot))


async def test_a_run_with_a_stale_price_episode_is_reproduced() -> None:
    rig = await Rig().start()
    await rig.send(
        *market(H, 64000.0, 64000.0, 2048.0),
        tick(H),
        flow(H, "deposit", 1.5, "binance:BaseToken:BTC", asset="BTC"),
    )
    late = 50 * H
    await rig.send(bar(late, "bybit", "ETHUSDT", "spot", 2000.0), tick(late))
    await rig.send(flow(late, "deposit", 1000.0, "binance:BaseToken:USDT"))  # valued nowhere: BTC is stale
    await rig.send(bar(late + H, "binance", "BTCUSDT", "spot", 65000.0), tick(late + H))
    assert len(rig.of(PnlSnapshot)) == 2
    projection = project(durable(rig))
    assert len(projection.pnl.price_errors) >= 1
    assert verify(projection) == []
    assert projection.pnl.ledger.equity == 1.5 * 65000.0 + 1000.0


async def test_verify_lists_every_difference() -> None:
    rig = await Rig().start()
    await rig.send(*basis_scenario())
    projection = project(rig.log)
    positions = last(rig, PositionSnapshot)
    pnl = last(rig, PnlSnapshot)
    assert isinstance(positions, PositionSnapshot) and isinstance(pnl, PnlSnapshot)
    off_positions = msgspec.structs.replace(
        positions, positions={**positions.positions, "binance:BaseToken:BTC": 1.0 + 2**-52}
    )
    off_pnl = msgspec.structs.replace(
        pnl, equity=pnl.equity + 0.01, attribution={**pnl.attribution, "gas": 0.0}
    )
    assert verify(projection, [off_positions, off_pnl]) == [
        f"positions[binance:BaseToken:BTC]: projected 1.0 != recorded {1.0 + 2**-52!r}",
        f"equity: projected {pnl.equity!r} != recorded {pnl.equity + 0.01!r}",
        "attribution[gas]: projected -16.0 != recorded 0.0",
    ]
    assert verify(projection, []) == ["no PositionSnapshot recorded", "no PnlSnapshot recorded"]


async def test_positions_projection_ignores_everything_but_balance_events() -> None:
    rig = await Rig().start()
    await rig.send(*basis_scenario())
    positions = PositionsProjection()
    for message in rig.log:
        positions.process_event(message)
    assert positions.events == 9
    assert positions.positions == rig.position.book.snapshot()


async def test_replay_from_the_store() -> None:
    rig = await run_rig("USDT", seed=3)
    with open_store("memory://") as store:
        store.append(
            RUN, [(subject, data) for subject, data, _ in rig.records if stream_of(subject) is not None]
        )
        store.append(
            "other-run",
            [(subject, data) for subject, data, _ in rig.records[:50] if stream_of(subject) is not None],
        )
        projection = replay(store, RUN)
        assert_same(projection, rig)
        assert verify_run(store, RUN) == []
