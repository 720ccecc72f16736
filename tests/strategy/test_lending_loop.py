"""pure_lending_usdt end to end: deposits supplied to AAVE, withdrawals withdrawn 1:1 and paid out."""

from __future__ import annotations

import pytest
from strategystack import Stack

from basis.bus.messages import FlowBooked, PnlSnapshot, Supply, Withdraw
from basis.components.strategy import LendingParams

approx = pytest.approx
SUPPLIED = "aave_v3:aToken:aUSDT"


async def test_deposits_are_supplied_and_withdrawals_withdrawn_one_for_one() -> None:
    stack = await Stack("pure_lending_usdt", LendingParams(share_class="USDT")).start()
    await stack.hour(eth=3_000.0)
    await stack.deposit(100_000.0)
    assert stack.qty(SUPPLIED) == 100_000.0
    await stack.hour(eth=3_000.0)
    await stack.send(stack.reserve(1.001))  # interest accrues: no rebalance for PnL under the threshold
    await stack.hour(eth=3_000.0)
    assert stack.qty(SUPPLIED) == approx(100_100.0)
    assert len(stack.tape.carrying(Supply)) == 2  # the router's parent and its child

    await stack.deposit(1_000.0)  # 1 % of equity: under the threshold, supplied because capital moved
    # equity (and so the target) counts the gas the wallet fronted (a few USDT of ETH)
    assert stack.qty(SUPPLIED) == approx(101_100.0, abs=10.0)
    assert stack.tape.decisions()[-2].action == "entry_partial"

    request = await stack.withdraw(30_000.0)
    await stack.hour(eth=3_000.0)
    withdraws = [w.action for w in stack.tape.carrying(Withdraw) if w.venue == "aave_v3"]
    assert len(withdraws) == 1 and isinstance(withdraws[0], Withdraw)
    assert withdraws[0].amount == approx(30_000.0 * 1.002, abs=30.0)
    [paid] = [f for f in stack.tape.of(FlowBooked) if f.kind == "withdrawal"]
    assert (paid.amount, paid.request_id) == (30_000.0, request.id)
    pnl = stack.tape.of(PnlSnapshot)[-1]
    assert pnl.net_flows == 71_000.0
    assert pnl.equity == approx(71_100.0, abs=30.0)
    assert [d.action for d in stack.tape.decisions() if d.action != "hold"] == [
        "entry_full",
        "entry_partial",
        "exit_partial",
        "exit_partial",
    ]
    assert stack.dead_letters() == 0
