"""The decision loop on a bus, fed by hand: when the strategy decides, when it waits, what it publishes."""

from __future__ import annotations

from typing import Any

import pytest
from strategyutil import HOUR, Clocked, Tape, lending_params, market

from basis.bus.bus import Bus
from basis.bus.ids import SequentialIds
from basis.bus.messages import (
    Fill,
    InstructionFilled,
    InstructionRejected,
    InvestorWithdrawal,
    PnlSnapshot,
    PositionSnapshot,
    RiskAssessment,
    RouteCompleted,
    StrategyDecided,
    Supply,
    Swap,
    Transfer,
)
from basis.bus.transport.inprocess import InProcessTransport
from basis.components.pricing import PriceBook
from basis.components.router.actions import action_of
from basis.components.strategy import PureLendingStrategy, Strategy

approx = pytest.approx


class Fed:
    """A strategy alone on a bus; the test publishes what the monitors and venues would."""

    def __init__(self, **params: Any) -> None:
        self.transport = InProcessTransport()
        self.feed = Clocked(self.transport)
        self.tape = Tape()
        bus = Bus(self.transport, component="strategy")
        self.strategy: Strategy = PureLendingStrategy(
            bus,
            self.feed.clock,
            SequentialIds("run", "strategy"),
            lending_params(**params),
            prices=PriceBook(),
        )

    async def start(self) -> Fed:
        await self.tape.attach(self.transport)
        await self.strategy.start()
        await self.feed.send(*market(self.feed.clock.now_ns()))
        return self

    async def loop(self, level: str = "ok") -> None:
        """The end of a tight loop: a risk assessment, then the PnL snapshot the strategy acts on."""
        risk = self.feed.make(
            RiskAssessment,
            level=level,
            margin_ratios={},
            health_factor=None,
            ltv=None,
            delta_drift=0.0,
            breaches=("test",) if level != "ok" else (),
        )
        pnl = self.feed.make(
            PnlSnapshot, share_class="USDT", equity=0.0, net_flows=0.0, pnl=0.0, attribution={}
        )
        await self.feed.send(risk, pnl)

    def decisions(self) -> list[StrategyDecided]:
        return self.tape.decisions()


WALLET = "wallet:BaseToken:USDT"
SUPPLIED = "aave_v3:aToken:aUSDT"


async def publish_book(fed: Fed, balances: dict[str, float], cause: str = "") -> None:
    await fed.feed.send(fed.feed.make(PositionSnapshot, through=cause, positions=balances))


async def test_it_waits_until_every_balance_event_it_saw_is_in_the_positions() -> None:
    fed = await Fed().start()
    fill = fed.feed.make(
        InstructionFilled,
        instruction_id="elsewhere",
        venue="aave_v3",
        changes=(Fill(instrument=WALLET, delta=1000.0),),
    )
    await fed.feed.send(fill)
    await fed.loop()
    assert fed.decisions() == []  # the position monitor has not booked the fill yet
    await fed.feed.send(fed.feed.make(PositionSnapshot, through=fill.id, positions={WALLET: 1000.0}))
    await fed.loop()
    [decision] = fed.decisions()
    assert decision.action == "entry_full"
    [supply] = fed.tape.sent_by(decision)
    assert isinstance(supply.action, Supply) and (supply.venue, action_of(supply), supply.action.amount) == (
        "router",
        "lending",
        1000.0,
    )


async def test_it_waits_for_the_router_outcome_and_retries_only_after_a_rejection_cools_down() -> None:
    fed = await Fed(reject_cooldown_s=1800.0).start()
    await publish_book(fed, {WALLET: 1000.0})
    await fed.loop()
    [first] = fed.decisions()
    await fed.loop()
    await fed.loop()
    assert fed.decisions() == [first]  # its supply is still outstanding
    [parent_id] = first.instruction_ids
    await fed.feed.send(
        fed.feed.make(RouteCompleted, instruction_id=parent_id, filled=False, reason="aave_v3: no_price")
    )
    await fed.loop()
    assert fed.decisions() == [first]  # same instant: cooling down
    await fed.feed.tick(HOUR // 4)
    await fed.loop()
    assert fed.decisions() == [first]  # 15 minutes: still cooling down
    await fed.feed.tick(HOUR // 4)
    await fed.loop()
    second = fed.decisions()[-1]
    assert second.action == "entry_full" and second.instruction_ids != first.instruction_ids
    assert fed.strategy.last_failure == f"{parent_id}: aave_v3: no_price"


async def test_holds_are_published_once_per_reason() -> None:
    fed = await Fed().start()
    await publish_book(fed, {SUPPLIED: 1000.0})
    for _ in range(3):
        await fed.loop()
    holds = fed.decisions()
    assert [(d.action, d.reason) for d in holds] == [("hold", "within threshold")]
    assert holds[0].target == {SUPPLIED: 1000.0, WALLET: 0.0}


async def test_a_critical_risk_cuts_by_the_risk_reduction_and_never_adds() -> None:
    fed = await Fed(risk_reduction=0.25).start()
    # idle cash in the wallet would normally be supplied: under critical risk it is not
    await publish_book(fed, {SUPPLIED: 1000.0, WALLET: 500.0})
    await fed.loop("critical")
    [cut] = fed.decisions()
    assert (cut.action, cut.reason) == ("exit_partial", "risk critical (test): scale down 25%, reduce-only")
    [withdraw] = fed.tape.sent_by(cut)
    assert type(withdraw.action).__name__ == "Withdraw" and withdraw.action.amount == approx(250.0)  # type: ignore[union-attr]
    await fed.feed.send(fed.feed.make(RouteCompleted, instruction_id=withdraw.id, filled=True))
    await publish_book(fed, {SUPPLIED: 750.0, WALLET: 750.0})
    await fed.loop("critical")
    assert fed.decisions()[-1].action == "hold"  # at most one cut per clock instant
    assert fed.decisions()[-1].reason == "risk critical: cut already made at this instant"


async def test_a_critical_risk_with_nothing_held_holds() -> None:
    fed = await Fed().start()
    await publish_book(fed, {WALLET: 1000.0})
    await fed.loop("critical")
    [hold] = fed.decisions()
    assert (hold.action, hold.reason) == ("hold", "risk critical: nothing to reduce")
    assert fed.tape.carrying(Supply) == []


async def test_a_payout_goes_to_the_wallet_venue_and_settles_the_withdrawal_when_filled() -> None:
    fed = await Fed().start()
    await publish_book(fed, {SUPPLIED: 7000.0, WALLET: 3000.0})
    request = fed.feed.make(InvestorWithdrawal, amount=3000.0, asset="USDT")
    await fed.feed.send(request)  # decides at once: the book is settled
    [decision] = fed.decisions()
    [payout] = fed.tape.sent_by(decision)
    assert isinstance(payout.action, Transfer)
    assert (payout.venue, payout.action.source, payout.action.destination, payout.action.amount) == (
        "wallet",
        "wallet",
        "investor",
        3000.0,
    )
    assert payout.correlation_id == request.id and payout.causation_id == decision.id
    assert decision.reason.endswith("pay 3000 USDT to investors")
    await fed.feed.send(
        fed.feed.make(
            InstructionRejected, instruction_id=payout.id, venue="wallet", reason="insufficient_balance"
        )
    )
    assert len(fed.strategy.withdrawals) == 1  # refused: still owed
    await fed.feed.tick(HOUR)
    await fed.loop()
    retry = fed.tape.sent_by(fed.decisions()[-1])
    assert [type(i.action) for i in retry] == [Transfer]
    filled = fed.feed.make(
        InstructionFilled,
        instruction_id=retry[0].id,
        venue="wallet",
        changes=(Fill(instrument="wallet:BaseToken:ETH", delta=-0.001),),
    )
    await fed.feed.send(filled)
    assert len(fed.strategy.withdrawals) == 0


async def test_dust_is_sold_into_the_share_class_when_nothing_else_is_due() -> None:
    fed = await Fed(dust_tokens=("ETH",), dust_threshold=0.001).start()
    await publish_book(fed, {SUPPLIED: 10_000.0, "wallet:BaseToken:ETH": 0.01})  # 20 USDT of ETH: 0.2 %
    await fed.loop()
    [decision] = fed.decisions()
    assert decision.action == "sell_dust"
    [swap] = fed.tape.sent_by(decision)
    assert isinstance(swap.action, Swap)
    assert (swap.action.sell_asset, swap.action.buy_asset, swap.action.amount, swap.venue) == (
        "ETH",
        "USDT",
        0.01,
        "router",
    )
