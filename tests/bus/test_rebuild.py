"""A component started again in the same run is rebuilt from the history of its run in the JetStream
streams before it handles anything new (:mod:`basis.bus.rebuild`): components on the session's real
nats-server, each incarnation on its own connection (closing it is the process going away)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from basis.bus.bus import COMPONENT_HEADER, RUN_HEADER, Bus
from basis.bus.clock import LiveClock
from basis.bus.codec import decode, encode
from basis.bus.component import Component
from basis.bus.embedded import EmbeddedNats
from basis.bus.ids import RandomIds, SequentialIds
from basis.bus.messages import (
    ClockTicked,
    FlowBooked,
    Instruction,
    InstructionFilled,
    Message,
    PerpTrade,
    PositionSnapshot,
    QueryStatus,
    RouteCompleted,
)
from basis.bus.rebuild import Entry, RebuildClock, Rebuilt, answered, resume, timeline
from basis.bus.subjects import covers, overlaps
from basis.bus.transport.base import Envelope
from basis.bus.transport.jetstream import StoredMessage, stream_filters
from basis.bus.transport.nats import NatsTransport
from basis.components.position_monitor import PositionMonitor
from basis.components.router import ActionMap, ExecutionRouter, RouterParams

# --- the pieces ----------------------------------------------------------------------------------------


def test_covers_and_overlaps_follow_nats_wildcards() -> None:
    assert covers("evt.*.*", "evt.positions.snapshot") and covers("evt.>", "evt.*.*")
    assert covers("cmd.>", "cmd.router.*") and not covers("cmd.router.*", "cmd.>")
    assert not covers("evt.*.*", "evt.>") and not covers("evt.*", "evt.a.b")
    assert overlaps("evt.*.filled", "evt.wallet.*") and overlaps("md.>", "md.bar.binance.BTCUSDT")
    assert not overlaps("evt.*.filled", "evt.router.completed") and not overlaps("evt.a", "evt.a.b")


def test_a_stream_is_read_with_filters_that_do_not_overlap() -> None:
    assert stream_filters(["evt.*.*", "evt.positions.snapshot"]) == ["evt.*.*"]
    assert stream_filters(["cmd.router.*", "cmd.fund.withdraw", "cmd.>"]) == ["cmd.>"]
    assert stream_filters(["cmd.router.*", "cmd.wallet.*"]) == ["cmd.router.*", "cmd.wallet.*"]
    assert stream_filters(["evt.*.filled", "evt.wallet.*"]) == ["evt.>"]  # JetStream refuses overlaps


def test_sequential_ids_continue_after_those_a_process_published() -> None:
    ids = SequentialIds("run", "router")
    for published in ("run.router.7", "run.router.3", "run.strategy.40", "other.router.90", "run.router.x"):
        ids.skip_past(published)
    assert ids.next_id() == "run.router.8"
    random = RandomIds()
    random.skip_past("anything")
    assert len(random.next_id()) == 32


def stored(stream: str, sequence: int, message: Message, subject: str, by: str) -> StoredMessage:
    headers = {RUN_HEADER: "r", COMPONENT_HEADER: by}
    return StoredMessage(stream, sequence, subject, encode(message), headers)


def test_the_timeline_keeps_each_stream_in_order_and_cuts_after_the_last_answered() -> None:
    def flow(i: str, ts: int) -> FlowBooked:
        return FlowBooked(
            id=i, ts=ts, kind="deposit", amount=1.0, asset="USDT", instrument="wallet:BaseToken:USDT"
        )

    def snap(i: str, ts: int, through: str) -> PositionSnapshot:
        return PositionSnapshot(id=i, ts=ts, causation_id=through, positions={}, through=through)

    evt = [
        stored("E", 1, flow("f1", 10), "evt.fund.deposit", "sim-chain"),
        stored("E", 2, snap("s1", 11, "f1"), "evt.positions.snapshot", "position-monitor"),
        stored("E", 3, flow("f2", 30), "evt.fund.deposit", "sim-chain"),
        stored(
            "E", 4, snap("s2", 12, "f2"), "evt.positions.snapshot", "position-monitor"
        ),  # out of time order
        stored("E", 5, flow("f3", 40), "evt.fund.deposit", "sim-chain"),
    ]
    cmd = [
        stored("C", 1, Instruction(id="i1", ts=20, venue="wallet", action=_trade()), "cmd.wallet.x", "router")
    ]
    entries = timeline([evt, cmd], "position-monitor")
    assert [e.message.id for e in entries] == ["f1", "s1", "i1", "f2", "s2", "f3"]
    assert [e.own for e in entries] == [False, True, False, False, True, False]
    assert answered(entries) == 3  # f2: what came after it (f3) was never answered
    assert answered([e for e in entries if not e.own]) == -1
    orphan = Entry(Envelope("evt.x.y", b""), snap("s9", 50, "a tick"), own=True)
    assert answered([*entries, orphan]) == 6  # caused by something not in the history: itself


def _trade(quantity: float = 1.0) -> PerpTrade:
    return PerpTrade(symbol="BTCUSDT", side="sell", quantity=quantity)


# --- components on the real server --------------------------------------------------------------------


@dataclass
class Run:
    """One run on the session's server: a connection that publishes as any component and watches."""

    url: str
    run_id: str
    transport: NatsTransport
    seen: list[Message] = field(default_factory=list)
    processes: list[NatsTransport] = field(default_factory=list)

    def bus(self, component: str, transport: NatsTransport | None = None) -> Bus:
        return Bus(transport or self.transport, component=component, run_id=self.run_id)

    async def publish(self, component: str, *messages: Message) -> None:
        bus = self.bus(component)
        for message in messages:
            await bus.publish(message)
        await self.transport.flush()

    async def process(
        self, name: str, make: Callable[[Bus, RebuildClock], Component]
    ) -> tuple[Component, Rebuilt | None]:
        """One incarnation of the process of component ``name``: its own connection, rebuilt from the run's
        history as ``basis.process.run_component`` does."""
        transport = await NatsTransport.connect(self.url)
        self.processes.append(transport)
        clock = RebuildClock(LiveClock())
        component = make(self.bus(name, transport), clock)
        return component, await resume(component, transport, clock)

    async def until(self, condition: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + 10.0
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)

    def of(self, kind: type[Message]) -> list[Message]:
        return [m for m in self.seen if isinstance(m, kind)]


@pytest.fixture
async def run(nats_server: EmbeddedNats) -> AsyncIterator[Run]:
    transport = await NatsTransport.connect(nats_server.url, name="rebuild-test")
    await transport.ensure_streams()
    ours = Run(nats_server.url, "rebuild-" + uuid.uuid4().hex[:8], transport)

    async def keep(envelope: Envelope) -> None:
        if envelope.headers.get(RUN_HEADER) == ours.run_id:
            ours.seen.append(decode(envelope.data))

    for pattern in ("cmd.>", "evt.>"):
        await transport.subscribe(pattern, keep)
    yield ours
    for process in ours.processes:
        await process.close()
    await transport.close()


def deposit(amount: float) -> FlowBooked:
    return FlowBooked(
        id=uuid.uuid4().hex,
        ts=time.time_ns(),
        kind="deposit",
        amount=amount,
        asset="USDT",
        instrument="wallet:BaseToken:USDT",
    )


async def test_a_position_monitor_started_again_books_and_answers_what_it_missed(run: Run) -> None:
    def monitor(bus: Bus, clock: RebuildClock) -> Component:
        return PositionMonitor(bus, clock, RandomIds())

    def snapshots() -> list[PositionSnapshot]:
        return [m for m in run.of(PositionSnapshot) if isinstance(m, PositionSnapshot)]

    _, rebuilt = await run.process("position-monitor", monitor)
    assert rebuilt is not None and rebuilt.rebuilt == rebuilt.caught_up == 0  # a new run: nothing to rebuild
    flows = [deposit(100.0), deposit(20.0)]
    await run.publish("sim-chain", *flows)
    await run.until(lambda: len(snapshots()) == 2, "two snapshots")
    await run.processes[0].close()  # the process goes away

    missed = deposit(3.0)
    await run.publish("sim-chain", missed)
    _, rebuilt = await run.process("position-monitor", monitor)
    # the two deposits it had answered are rebuilt, up to the second; its two snapshots and the missed
    # deposit are read too (its first snapshot lands in the stream before or after the second deposit, as
    # the machine's timing decides: rebuilt with the deposits, or caught up after them)
    assert rebuilt is not None and (rebuilt.own, rebuilt.rebuilt + rebuilt.caught_up) == (2, 5)
    assert rebuilt.rebuilt in (2, 3)
    await run.until(lambda: len(snapshots()) == 3, "the missed deposit answered")
    later = deposit(0.5)
    await run.publish("sim-chain", later)
    await run.until(lambda: len(snapshots()) == 4, "a new deposit answered")
    assert [s.through for s in snapshots()] == [f.id for f in (*flows, missed, later)]
    assert [s.positions for s in snapshots()[2:]] == [
        {"wallet:BaseToken:USDT": 123.0},
        {"wallet:BaseToken:USDT": 123.5},
    ]


def router(bus: Bus, clock: RebuildClock) -> Component:
    params = RouterParams(
        actions=ActionMap.build(hedge_allocation={"binance": 0.5, "okx": 0.5}), answer_timeout_s=0.5
    )
    return ExecutionRouter(bus, clock, RandomIds(), params)


def fill(child: Instruction) -> InstructionFilled:
    return InstructionFilled(
        id=uuid.uuid4().hex,
        ts=time.time_ns(),
        causation_id=child.id,
        instruction_id=child.id,
        venue=child.venue,
        changes=(),
    )


async def test_a_router_started_again_routes_nothing_twice_and_waits_for_its_children(run: Run) -> None:
    def children() -> list[Instruction]:
        return [m for m in run.of(Instruction) if isinstance(m, Instruction) and m.venue != "router"]

    await run.process("router", router)
    parent = Instruction(id=uuid.uuid4().hex, ts=time.time_ns(), venue="router", action=_trade(2.0))
    await run.publish("strategy", parent)
    await run.until(lambda: len(children()) == 2, "the parent routed")
    binance, okx = sorted(children(), key=lambda c: c.venue)
    await run.publish("sim-binance", fill(binance))
    await run.processes[0].close()

    again = Instruction(id=uuid.uuid4().hex, ts=time.time_ns(), venue="router", action=_trade(4.0))
    await run.publish("strategy", again)  # routed by no one yet
    second, rebuilt = await run.process("router", router)
    assert isinstance(second, ExecutionRouter) and rebuilt is not None
    await run.until(lambda: len(children()) == 4, "the parent that came meanwhile routed")
    assert {c.causation_id for c in children()[2:]} == {again.id}  # the first parent not again
    assert set(second.routes) == {parent.id, again.id}

    # the open child is still waited for: past its deadline its venue is asked about it, by its own id
    tick = ClockTicked(id=uuid.uuid4().hex, ts=time.time_ns() + 2_000_000_000)
    await second.bus.publish(tick)
    await run.until(lambda: run.of(QueryStatus), "a status query")
    assert {q.instruction_id for q in run.of(QueryStatus) if isinstance(q, QueryStatus)} >= {okx.id}
    await run.publish("sim-okx", fill(okx))
    await run.until(lambda: run.of(RouteCompleted), "the parent's outcome")
    [done] = run.of(RouteCompleted)
    assert isinstance(done, RouteCompleted) and done.instruction_id == parent.id and done.filled
    assert set(done.children) == {binance.id, okx.id}


async def test_a_router_that_stopped_midway_through_a_parent_sends_the_legs_it_had_not(run: Run) -> None:
    parent = Instruction(id=uuid.uuid4().hex, ts=time.time_ns(), venue="router", action=_trade(2.0))
    sent = Instruction(
        id=uuid.uuid4().hex,
        ts=time.time_ns(),
        causation_id=parent.id,
        correlation_id=parent.id,
        venue="binance",
        action=_trade(1.0),
    )
    await run.publish("strategy", parent)
    await run.publish("router", sent)  # what a router that stopped after its first child left
    _, rebuilt = await run.process("router", router)
    assert rebuilt is not None and rebuilt.own == 1
    await run.until(lambda: len(run.of(Instruction)) == 3, "the other leg")
    [okx] = [m for m in run.of(Instruction) if isinstance(m, Instruction) and m.venue == "okx"]
    assert okx.causation_id == parent.id and okx.action == _trade(1.0)
    await asyncio.sleep(0.2)
    assert len(run.of(Instruction)) == 3  # binance's leg was not sent again
