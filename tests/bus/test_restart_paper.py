"""A paper system of btc_basis, every component its own process on a real nats-server: a strategy or a
position monitor killed with SIGKILL and started again is rebuilt from the history of its run, so nothing
is lost and nothing is executed twice (docs/deployment.md, "A process restarted in paper or live mode").

The exchanges' deposits take a few seconds here instead of 15 minutes (tests/bus/papersystem.py), so the
entry (USDT to the three exchanges, then the spot long and the perp shorts) completes within the test."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from papersystem import Observer, PaperSystem

from basis.bus.bus import Bus
from basis.bus.embedded import EmbeddedNats
from basis.bus.messages import (
    Bar,
    FlowBooked,
    Instruction,
    InstructionFilled,
    InvestorDeposit,
    Message,
    PerpTrade,
    PositionSnapshot,
    RouteCompleted,
    SpotTrade,
    StrategyDecided,
    Transfer,
)
from basis.bus.transport.jetstream_journal import JetStreamJournal
from basis.process import FEED


@pytest.fixture
async def observed(nats_server: EmbeddedNats) -> AsyncIterator[tuple[str, Observer]]:
    run_id = "restart-" + uuid.uuid4().hex[:8]
    observer = await Observer.on(nats_server.url, run_id)
    yield run_id, observer
    await observer.close()


def sent(observer: Observer) -> list[StrategyDecided]:
    """The strategy's decisions that sent instructions."""
    return [d for d in observer.of(StrategyDecided) if isinstance(d, StrategyDecided) and d.instruction_ids]


def completed(observer: Observer, decision: StrategyDecided) -> bool:
    done = {m.instruction_id for m in observer.of(RouteCompleted) if isinstance(m, RouteCompleted)}
    return set(decision.instruction_ids) <= done


async def nothing_executed_twice(observer: Observer) -> None:
    """No instruction id twice on cmd.>; every parent routed once, one child per venue; every child of a
    completed parent executed once (one fill, its journal entry the venue's answer)."""
    ids = observer.instruction_ids()
    assert [i for i, n in ids.items() if n > 1] == []
    instructions = [m for m in observer.on_subject("cmd.") if isinstance(m, Instruction)]
    parents = {m.id for m in instructions if m.venue == "router"}
    children = [m for m in instructions if m.causation_id in parents]
    assert {m.causation_id for m in children} == parents
    assert all(n == 1 for n in Counter((m.causation_id, m.venue) for m in children).values())
    fills = Counter(
        m.instruction_id for m in observer.of(InstructionFilled) if isinstance(m, InstructionFilled)
    )
    done = {m.instruction_id for m in observer.of(RouteCompleted) if isinstance(m, RouteCompleted)}
    journal = await JetStreamJournal.open(observer.transport.js)
    for child in children:
        assert fills[child.id] <= 1, child
        if child.causation_id in done:
            recorded = await journal.lookup(child.id)
            assert fills[child.id] == 1 and recorded is not None, child
            assert [type(m) for m in recorded.outcomes if isinstance(m, InstructionFilled)] == [
                InstructionFilled
            ]


@pytest.mark.slow
async def test_a_strategy_killed_while_its_entry_is_in_flight_sends_nothing_again(
    nats_server: EmbeddedNats, tmp_path: Path, observed: tuple[str, Observer]
) -> None:
    run_id, observer = observed
    system = PaperSystem(nats_server.url, run_id, tmp_path, deposit_delay_s=3)
    try:
        await system.up()
        system.pause("clock")  # time stands still: the entry's transfers will stay on their way until resumed
        await observer.until(lambda: len(observer.on_subject("cmd.router.")) == 3, "the entry", system)
        system.kill("strategy")
        [entry] = sent(observer)
        transfers = [m for m in observer.on_subject("cmd.router.") if isinstance(m, Instruction)]
        assert entry.action == "entry_full" and [m.id for m in transfers] == list(entry.instruction_ids)
        assert all(isinstance(m.action, Transfer) and m.action.source == "wallet" for m in transfers)
        system.start("strategy")
        await system.until_healthy(["strategy"])  # it answers once rebuilt
        assert not completed(observer, entry)
        rebuilt = system.log("strategy", 2)
        assert "strategy: rebuilt from" in rebuilt and "(4 its own)" in rebuilt  # the decision, 3 transfers
        system.resume("clock")

        # the transfers arrive, and the strategy goes on with the entry: the long and the shorts, once
        await observer.until(lambda: len(sent(observer)) >= 2, "the rest of the entry", system)
        await observer.until(lambda: completed(observer, sent(observer)[1]), "the trades", system)
        orders = [m for m in observer.on_subject("cmd.router.") if isinstance(m, Instruction)]
        decided = Counter(i for d in sent(observer) for i in d.instruction_ids)
        assert {m.id for m in orders} <= set(decided) and max(decided.values()) == 1
        after = [m.action for m in orders if m.id in sent(observer)[1].instruction_ids]
        assert {type(a) for a in after} >= {SpotTrade, PerpTrade}
        again = {(t.action.destination, t.action.amount) for t in transfers if isinstance(t.action, Transfer)}
        assert not [a for a in after if isinstance(a, Transfer) and (a.destination, a.amount) in again]

        await nothing_executed_twice(observer)
        [last] = observer.of(PositionSnapshot)[-1:]
        assert isinstance(last, PositionSnapshot)
        book = last.positions
        short = sum(-q for k, q in book.items() if ":Perp:" in k)
        assert book["binance:BaseToken:BTC"] == pytest.approx(short, rel=1e-6) and short > 0  # hedged
    finally:
        system.close()


@pytest.mark.slow
async def test_a_position_monitor_killed_answers_what_it_missed_with_the_book_it_would_have(
    nats_server: EmbeddedNats, tmp_path: Path, observed: tuple[str, Observer]
) -> None:
    run_id, observer = observed
    system = PaperSystem(nats_server.url, run_id, tmp_path, deposit_delay_s=2)
    bus = Bus(observer.transport, component="investor", run_id=run_id)
    try:
        await system.up()
        await observer.until(lambda: len(sent(observer)) >= 2, "the entry", system)
        await observer.until(lambda: completed(observer, sent(observer)[1]), "the trades", system)

        def snapshots() -> list[PositionSnapshot]:
            return [m for m in observer.of(PositionSnapshot) if isinstance(m, PositionSnapshot)]

        def answered() -> set[str]:
            return {m.through for m in snapshots()}

        system.kill("position-monitor")
        deposit = InvestorDeposit(id=uuid.uuid4().hex, ts=time.time_ns(), amount=10_000.0, asset="USDT")
        await bus.publish(deposit)
        await observer.transport.flush()

        def booked() -> list[Message]:
            return [m for m in observer.of(FlowBooked) if m.causation_id == deposit.id]

        await observer.until(booked, "the deposit booked while the monitor is down", system)
        funding_before = len(observer.on_subject("evt.binance.funding"))
        await observer.until(
            lambda: len(observer.on_subject("evt.binance.funding")) > funding_before, "funding", system
        )
        before = len(snapshots())
        system.start("position-monitor")
        await system.until_healthy(["position-monitor"])
        assert "position-monitor: rebuilt from" in system.log("position-monitor", 2)

        # its next snapshot answers the first balance event it missed with the book of every balance event
        # of the run up to it, in the order the stream holds them (the order it rebuilt them in)
        await observer.until(lambda: len(snapshots()) > before, "a snapshot of the restarted monitor", system)
        first = snapshots()[before]
        assert first.through not in {s.through for s in snapshots()[:before]}
        assert first.positions == await observer.stream_book(first.through)
        [flow] = booked()
        await observer.until(lambda: flow.id in answered(), "the deposit in a position snapshot", system)
        answer = next(s for s in snapshots() if s.through == flow.id)
        assert answer.positions == await observer.stream_book(flow.id)

        # the strategy, which waits for every balance event to be booked, deploys the new capital
        def deployed() -> list[StrategyDecided]:
            return [d for d in sent(observer)[1:] if "investor capital moved" in d.reason]

        await observer.until(deployed, "the deposit deployed", system)

        # and once nothing moves any more, every balance event was answered once, the last snapshot with the
        # book of them all (booked in the order they reached the monitor: the same to rounding)
        system.pause("market-data")
        system.pause("clock")
        events = await observer.settled(system)
        throughs = Counter(s.through for s in snapshots())
        assert set(throughs) == set(events) and max(throughs.values()) == 1
        [last] = snapshots()[-1:]
        assert last.positions == pytest.approx(await observer.stream_book(), rel=1e-12)
        await nothing_executed_twice(observer)
    finally:
        system.close()


@pytest.mark.slow
async def test_a_paper_feed_killed_deposits_nothing_again_and_resumes_where_it_stopped(
    nats_server: EmbeddedNats, tmp_path: Path, observed: tuple[str, Observer]
) -> None:
    """The paper feed killed after the initial deposit and started again: rebuilt from what it had
    published, it deposits nothing again and goes on with the data where it stopped (no bar published
    twice), on the wall time its replay started at."""
    run_id, observer = observed
    await observer.transport.subscribe("md.>", observer._keep)  # the market data too
    system = PaperSystem(nats_server.url, run_id, tmp_path, deposit_delay_s=2)
    try:
        await system.up()
        await observer.until(lambda: observer.of(InvestorDeposit), "the initial deposit", system)
        await observer.until(lambda: len(observer.on_subject("md.bar.")) > 20, "some bars", system)
        system.kill(FEED)
        before = len(observer.on_subject("md.bar."))
        system.start(FEED)
        await system.until_healthy([FEED])
        assert f"{FEED}: rebuilt from" in system.log(FEED, 2)
        await observer.until(lambda: len(observer.on_subject("md.bar.")) > before + 20, "bars again", system)
        assert len(observer.of(InvestorDeposit)) == 1
        bars = [m for m in observer.on_subject("md.bar.") if isinstance(m, Bar)]
        seen = Counter((b.venue, b.symbol, b.market, b.open, b.high, b.low, b.close, b.volume) for b in bars)
        assert [bar for bar, n in seen.items() if n > 1] == []
        first = [b.ts for b in bars[:before]]
        after = [b.ts for b in bars[before:]]
        assert min(after) >= max(first) - 10**9  # stamps go on from where they were, not from a new start
    finally:
        system.close()
