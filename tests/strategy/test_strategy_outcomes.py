"""When a venue never answers: the router reconciles (status queries after the deadline) and the
strategy decides again; when the router cannot finish either, the strategy's own deadline runs out, and
it says so in the log. pure_lending_usdt with its lending venue replaced by a venue double."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pytest
from strategystack import Stack
from venuedoubles import SILENT, Answer, FakeVenue

from basis.bus.messages import Instruction, QueryStatus, RouteCompleted, Supply
from basis.components.strategy import LendingParams

SUPPLIED = "aave_v3:aToken:aUSDT"


async def lending(script: Iterable[Answer], *, answer_timeout_s: float = 300.0, **params: float) -> Stack:
    stack = Stack("pure_lending_usdt", LendingParams(share_class="USDT", **params))  # type: ignore[arg-type]
    stack.components.remove(stack.aave)
    stack.components.append(FakeVenue(*stack.wiring("fake-aave"), venue="aave_v3", script=script))
    stack.router.params = dataclasses.replace(stack.router.params, answer_timeout_s=answer_timeout_s)
    return await stack.start()


def supplies(stack: Stack) -> list[Instruction]:
    return [i for i in stack.tape.carrying(Supply) if i.venue == "aave_v3"]


async def test_a_venue_that_never_answers_is_reconciled_and_the_strategy_decides_again() -> None:
    stack = await lending([SILENT])
    await stack.hour(eth=3_000.0)
    await stack.deposit(100_000.0)
    assert len(supplies(stack)) == 1 and stack.qty(SUPPLIED) == 0.0

    for _ in range(4):  # three status queries, 300 s apart, then the leg fails
        await stack.minutes(5)
    assert len(stack.tape.of(QueryStatus)) == 3
    [failed] = stack.tape.of(RouteCompleted)
    assert not failed.filled
    assert failed.reason == "aave_v3: no final answer after 3 status queries"

    for _ in range(3):  # the rejection's cooldown (600 s), then a new decision
        await stack.minutes(5)
    assert len(supplies(stack)) == 2
    assert stack.qty(SUPPLIED) == pytest.approx(100_000.0, abs=10.0)
    decisions = [d for d in stack.tape.decisions() if d.action != "hold"]
    assert [d.action for d in decisions] == ["entry_full", "entry_full"]
    assert decisions[1].ts > failed.ts  # decided again after the router gave up, on the book as it was
    assert stack.dead_letters() == 0


async def test_the_strategy_stops_waiting_at_its_own_deadline_and_says_why() -> None:
    stack = await lending(
        [SILENT], answer_timeout_s=0.0, outcome_timeout_s=3_600.0
    )  # the router waits for ever
    await stack.hour(eth=3_000.0)
    await stack.deposit(100_000.0)
    [first] = supplies(stack)
    await stack.minutes(30)
    assert stack.tape.of(RouteCompleted) == [] and len(supplies(stack)) == 1

    await stack.minutes(30)  # an hour after the decision
    [gave_up] = [d for d in stack.tape.decisions() if d.reason.startswith("no outcome for")]
    assert gave_up.action == "hold"
    [parent] = [i for i in stack.tape.carrying(Supply) if i.venue == "router" and i.id == first.causation_id]
    assert gave_up.reason == f"no outcome for {parent.id} after 3600s: deciding on the book as it stands"
    assert len(supplies(stack)) == 2  # decided again at once: the book holds no supply
    assert stack.qty(SUPPLIED) == pytest.approx(100_000.0, abs=10.0)
