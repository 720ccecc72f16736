"""A component rebuilt from the history of its run (:mod:`basis.bus.rebuild`, what a restarted process
does) holds the state the live one holds: btc_basis on one in-process bus, the strategy, the router and the
monitors rebuilt from what the bus carried at three moments (the entry's transfers on their way, the book
entered, a withdrawal being paid) and compared with the live ones."""

from __future__ import annotations

from typing import Any

import pytest
from strategystack import RUN, Stack
from strategyutil import btc_params

from basis.bus.bus import COMPONENT_HEADER, Bus
from basis.bus.clock import SimClock
from basis.bus.component import Component
from basis.bus.ids import SequentialIds
from basis.bus.messages import Message, RouteCompleted, StrategyDecided
from basis.bus.rebuild import Entry, RebuildClock, replay
from basis.bus.subjects import matches
from basis.bus.transport.base import Envelope
from basis.bus.transport.inprocess import InProcessTransport
from basis.components.exposure_monitor import ExposureMonitor
from basis.components.pnl_monitor import PnlMonitor
from basis.components.position_monitor import PositionMonitor
from basis.components.pricing import PriceBook
from basis.components.router import ExecutionRouter
from basis.components.strategy import BasisStrategy, create_strategy


class History:
    """Every message the bus carried, as its subscribers got it (subject, headers, message)."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def attach(self, stack: Stack) -> None:
        async def keep(envelope: Envelope) -> None:
            self.envelopes.append(envelope)

        await stack.transport.subscribe(">", keep)

    def of(self, component: Component) -> list[Entry]:
        patterns = component.history()
        return [
            Entry(e, e.message, e.headers.get(COMPONENT_HEADER) == component.name)
            for e in self.envelopes
            if isinstance(e.message, Message) and any(matches(p, e.subject) for p in patterns)
        ]


async def rebuilt(stack: Stack, history: History, live: Component, make: Any) -> Any:
    """A component made like ``live`` on a bus of its own, rebuilt from ``history``."""
    clock = RebuildClock(SimClock(stack.clock.now_ns()))
    bus = Bus(InProcessTransport(), component=live.name, run_id=RUN)
    fresh: Component = make(bus, clock, SequentialIds(RUN, live.name))
    await fresh.start()
    await replay(fresh, history.of(live), clock)
    return fresh


def strategy_state(strategy: BasisStrategy) -> dict[str, Any]:
    return {
        "router": sorted(strategy.outstanding.router),
        "direct": sorted(strategy.outstanding.direct),
        "withdrawals": [(w.request_id, w.amount, w.payout_id) for w in strategy.withdrawals._items],
        "positions": strategy.positions,
        "unbooked": sorted(strategy.unbooked),
        "flows_pending": strategy.flows_pending,
        "last_hold": strategy._last_hold,
        "last_decision": strategy.last_decision,
        "settling": strategy.settling,
        "give_up": strategy._give_up_ns if strategy.outstanding else None,
        "failures": (strategy.failures, strategy.rejected_at_ns),
    }


def router_state(router: ExecutionRouter) -> dict[str, Any]:
    return {
        "routes": sorted(router.routes),
        "legs": {
            child: (leg.venue, leg.status, leg.attempts, leg.route.parent.id, leg.deadline_ns)
            for child, leg in router._legs.items()
        },
    }


async def check(stack: Stack, history: History) -> None:
    live = stack.strategy
    assert isinstance(live, BasisStrategy)
    params = live.params

    def make_strategy(bus: Bus, clock: Any, ids: Any) -> Component:
        return create_strategy("btc_basis", bus, clock, ids, params, prices=PriceBook())

    strategy = await rebuilt(stack, history, live, make_strategy)
    assert strategy_state(strategy) == strategy_state(live)
    assert strategy.sizing is not None and live.sizing is not None
    assert strategy.sizing.size == pytest.approx(live.sizing.size, rel=1e-15)
    assert strategy.sizing.equity == pytest.approx(live.sizing.equity, rel=1e-12)
    published = [e.message.id for e in history.of(live) if e.own]
    assert strategy.ids.next_id() not in published

    def make_router(bus: Bus, clock: Any, ids: Any) -> Component:
        return ExecutionRouter(bus, clock, ids, stack.router.params)

    router = await rebuilt(stack, history, stack.router, make_router)
    assert router_state(router) == router_state(stack.router)

    position = await rebuilt(stack, history, stack.position, PositionMonitor)
    assert position.book.positions == stack.position.book.positions

    def make_pnl(bus: Bus, clock: Any, ids: Any) -> Component:
        return PnlMonitor(bus, clock, ids, share_class="USDT", prices=PriceBook())

    pnl = await rebuilt(stack, history, stack.pnl, make_pnl)
    ledger, live_ledger = pnl.ledger, stack.pnl.ledger
    assert (ledger.equity, ledger.attribution, ledger.net_flows) == (
        live_ledger.equity,
        live_ledger.attribution,
        live_ledger.net_flows,
    )

    def make_exposure(bus: Bus, clock: Any, ids: Any) -> Component:
        return ExposureMonitor(bus, clock, ids, share_class="USDT", prices=PriceBook())

    exposure = await rebuilt(stack, history, stack.exposure, make_exposure)
    assert exposure.exposures.positions == stack.exposure.exposures.positions


async def test_rebuilt_components_hold_the_state_of_the_live_ones() -> None:
    stack = Stack("btc_basis", btc_params(margin_buffer=0.43, margin_warning=0.30), hedged_asset="BTC")
    history = History()
    await history.attach(stack)
    await stack.start()
    await stack.hour(btc=60_000.0)
    await stack.deposit(100_000.0)
    assert stack.strategy.outstanding.router and stack.router.routes  # the transfers are on their way
    await check(stack, history)

    for _ in range(3):
        await stack.hour(btc=60_000.0)
        await stack.funding(0.0001)
    assert not stack.strategy.outstanding and stack.qty("binance:BaseToken:BTC") > 0  # entered
    await check(stack, history)

    request = await stack.withdraw(20_000.0)
    owed = 0
    while len(stack.strategy.withdrawals) and owed < 12:  # unwound, the USDT back in the wallet, paid out
        assert [w.request_id for w in stack.strategy.withdrawals._items] == [request.id]
        owed += 1
        await check(stack, history)
        await stack.minutes(20, btc=61_000.0)
    assert 2 <= owed < 12
    await check(stack, history)
    decided = [m for m in stack.tape.decisions() if m.instruction_ids]
    assert len(decided) >= 3 and all(isinstance(d, StrategyDecided) for d in decided)
    assert stack.tape.of(RouteCompleted) and stack.dead_letters() == 0
