"""The tight loop over a real bus: position → exposure → risk → PnL after every change, before anyone acts."""

from __future__ import annotations

from basis.bus.balances import BALANCE_EVENTS
from basis.bus.bus import Bus
from basis.bus.component import Component
from basis.bus.ids import SequentialIds
from basis.bus.messages import (
    ClockTicked,
    ExposureSnapshot,
    InstructionAccepted,
    InstructionFilled,
    Message,
    PnlSnapshot,
    PositionSnapshot,
    RiskAssessment,
    StrategyDecided,
)

from .scenario import H, Rig, bar, basis_scenario, fill, flow, market, tick

CHAIN = (PositionSnapshot, ExposureSnapshot, RiskAssessment, PnlSnapshot)


def loops(log: list[Message]) -> list[list[Message]]:
    """Each balance event and the monitor messages right after it."""
    out: list[list[Message]] = []
    for i, message in enumerate(log):
        if isinstance(message, BALANCE_EVENTS):
            out.append(log[i : i + 1 + len(CHAIN)])
    return out


async def test_every_balance_event_runs_the_whole_chain_in_order() -> None:
    rig = await Rig(hedged_asset="BTC").start()
    await rig.send(*basis_scenario())
    for event, *chain in loops(rig.log):
        assert [type(m) for m in chain] == list(CHAIN)
        position, exposure, risk, pnl = chain
        assert isinstance(position, PositionSnapshot) and isinstance(exposure, ExposureSnapshot)
        assert isinstance(pnl, PnlSnapshot)
        assert position.causation_id == event.id
        assert exposure.causation_id == position.id
        assert risk.causation_id == exposure.id
        assert pnl.causation_id == risk.id
        assert {k: e.quantity for k, e in exposure.exposures.items()} == position.positions
        assert pnl.equity == exposure.total_share
    assert len(loops(rig.log)) == 9
    assert rig.pnl.ledger.remainder == 0.0
    last = rig.of(PnlSnapshot)[-1]
    assert last.attribution["price"] == -24.0 and last.attribution["trading_fees"] == -81.0
    assert (last.equity, last.net_flows, last.pnl) == (126861.75, 126976.0, -114.25)
    for component in (rig.position, rig.exposure, rig.risk, rig.pnl):
        assert component.bus.dead_lettered == 0


async def test_market_data_revalues_once_per_tick_and_only_when_a_used_price_moved() -> None:
    rig = await Rig().start()
    await rig.send(*market(H, 64000.0, 64000.0, 2048.0), tick(H))
    assert rig.of(ExposureSnapshot) == []  # nothing held yet
    await rig.send(flow(H, "deposit", 1.0, "binance:BaseToken:BTC", asset="BTC"))
    assert len(rig.of(PnlSnapshot)) == 1
    await rig.send(*market(2 * H, 65000.0, 65000.0, 2048.0))
    assert len(rig.of(ExposureSnapshot)) == 1  # market data alone does not run the chain
    await rig.send(tick(2 * H))
    snapshots = rig.of(ExposureSnapshot)
    assert len(snapshots) == 2 and snapshots[-1].total_usd == 65000.0
    assert [type(m) for m in rig.log[-4:]] == [ClockTicked, *CHAIN[1:]]
    await rig.send(bar(3 * H, "bybit", "ETHUSDT", "spot", 2100.0), tick(3 * H))  # ETH is not held
    await rig.send(tick(4 * H))  # nothing new at all
    assert len(rig.of(ExposureSnapshot)) == 2
    assert rig.of(PnlSnapshot)[-1].attribution["price"] == 1000.0


async def test_the_strategy_acts_on_a_complete_loop() -> None:
    rig = await Rig(hedged_asset="BTC").start()
    seen: list[tuple[str, str, str]] = []

    class Strategy(Component):
        name = "strategy"

        async def on_start(self) -> None:
            await self.bus.subscribe(
                "evt.*.*", self.on_event, types=(ExposureSnapshot, RiskAssessment, PnlSnapshot)
            )
            self.latest: dict[type, Message] = {}

        async def on_event(self, message: Message) -> None:
            self.latest[type(message)] = message
            if isinstance(message, PnlSnapshot):
                exposure, risk = self.latest[ExposureSnapshot], self.latest[RiskAssessment]
                assert message.causation_id == risk.id and risk.causation_id == exposure.id
                assert message.equity == exposure.total_share  # type: ignore[attr-defined]
                seen.append((risk.level, message.id, exposure.id))  # type: ignore[attr-defined]
                await self.emit(
                    self.make(StrategyDecided, cause=message, action="hold", reason="test", target={})
                )

    strategy = Strategy(
        Bus(rig.transport, component="strategy"), rig.clock, SequentialIds("run-1", "strategy")
    )
    await strategy.start()
    await rig.send(*basis_scenario())
    assert len(seen) == len(rig.of(PnlSnapshot)) == len(rig.of(StrategyDecided))
    assert seen[1][0] == "critical"  # after the spot buy, before the hedge: 64,000 of BTC unhedged
    assert seen[2][0] == "ok"  # hedged


async def test_events_published_back_to_back_are_valued_with_the_positions_that_reflect_them() -> None:
    rig = await Rig().start()
    venue_bus = Bus(rig.transport, component="venue")

    async def on_accepted(message: InstructionAccepted) -> None:
        # a venue publishing two fills from one handler: both are queued before either loop runs
        await venue_bus.publish(
            fill(H, "binance", ("binance:BaseToken:BTC", 1.0), ("binance:BaseToken:USDT", -64064.0))
        )
        await venue_bus.publish(
            fill(
                H,
                "binance",
                ("binance:Perp:BTCUSDT", -1.0),
                ("binance:PerpNotional:BTCUSDT", 64016.0),
                ("binance:BaseToken:USDT", -32.0),
            )
        )

    await venue_bus.subscribe("evt.*.accepted", on_accepted, types=(InstructionAccepted,))
    await rig.send(
        *market(H, 64000.0, 64000.0, 2048.0), tick(H), flow(H, "deposit", 100000.0, "binance:BaseToken:USDT")
    )
    await rig.send(InstructionAccepted(id="acc", ts=H, instruction_id="i", venue="binance"))
    kinds = [type(m) for m in rig.log[-11:]]
    assert kinds == [
        InstructionAccepted,
        InstructionFilled,
        InstructionFilled,
        PositionSnapshot,
        PositionSnapshot,
        ExposureSnapshot,
        ExposureSnapshot,
        RiskAssessment,
        RiskAssessment,
        PnlSnapshot,
        PnlSnapshot,
    ]
    exposures, pnls = rig.of(ExposureSnapshot)[-2:], rig.of(PnlSnapshot)[-2:]
    assert [p.equity for p in pnls] == [e.total_share for e in exposures] == [99936.0, 99920.0]
    assert pnls[0].attribution["trading_fees"] == -64.0 and pnls[1].attribution["trading_fees"] == -80.0


async def test_a_stale_price_stops_the_loop_until_prices_are_fresh_again() -> None:
    rig = await Rig().start()
    await rig.send(
        *market(H, 64000.0, 64000.0, 2048.0),
        tick(H),
        flow(H, "deposit", 1.0, "binance:BaseToken:BTC", asset="BTC"),
    )
    late = H + 49 * H
    await rig.send(tick(late), flow(late, "deposit", 1000.0, "binance:BaseToken:USDT"))
    assert len(rig.of(PnlSnapshot)) == 1  # the exposure monitor refused to value with a 49-hour-old BTC price
    dead = [(s, h) for s, _, h in rig.records if s.startswith("dlq.")]
    assert [s for s, _ in dead] == ["dlq.evt.positions.snapshot"]
    error = dead[0][1]["Basis-Error"]
    assert "StalePrice" in error and "binance:BaseToken:BTC" in error and "bar:binance:BTCUSDT:spot" in error
    await rig.send(bar(late, "binance", "BTCUSDT", "spot", 66000.0), tick(late))
    pnl = rig.of(PnlSnapshot)[-1]
    assert len(rig.of(PnlSnapshot)) == 2
    assert (pnl.equity, pnl.net_flows, pnl.attribution["price"]) == (67000.0, 65000.0, 2000.0)


async def test_a_shared_hosted_price_book_publishes_the_same_messages_as_one_book_per_monitor() -> None:
    own = await Rig(hedged_asset="BTC").start()
    shared = await Rig(hedged_asset="BTC", hosted=True).start()
    scenario = basis_scenario()
    for rig in (own, shared):
        await rig.send(*scenario)
    assert len(shared.of(PnlSnapshot)) > 1
    assert shared.records == own.records
    # the monitors read the hosted book and leave feeding it to its host
    md = shared.transport._route("md.bar.binance.BTCUSDT")
    assert len(md) == len(own.transport._route("md.bar.binance.BTCUSDT")) - 3 + 1
