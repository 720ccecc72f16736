"""ether.fi reward tokens credited by the simulated staking venue, against a hand computation."""

from __future__ import annotations

import pytest
from venueutil import T0, Harness

from basis.bus.messages import InvestorDeposit, LstRate, RewardDistribution, Settled, Stake, Unstake
from basis.venues.simulated import SimulatedStaking, SimulatedWallet
from basis.venues.simulated.staking import RewardAccrual

DAY = 86_400 * 1_000_000_000


async def test_rewards_pay_per_eeth_held_over_the_period_once_it_closes(h: Harness) -> None:
    await h.start(
        SimulatedStaking, venue="etherfi", token="weETH", base_token="eETH", unstake_delay_s=7 * 86_400.0
    )
    await h.start(SimulatedWallet)
    await h.gas(10.0)
    await h.send(LstRate, venue="etherfi", token="weETH", rate=1.05)
    await h.send(InvestorDeposit, asset="ETH", amount=11.0)
    h.filled(await h.instruct("etherfi", Stake(token="weETH", amount=10.5)))  # 10 weETH = 10.5 eETH

    await h.advance(3 * DAY)
    await h.send(LstRate, venue="etherfi", token="weETH", rate=1.06)  # 10.6 eETH
    await h.advance(2 * DAY)
    h.filled(await h.instruct("etherfi", Unstake(token="weETH", amount=4.0)))  # 6 weETH = 6.36 eETH

    # the EIGEN row of the period [T0 + 1 day, T0 + 8 days) comes out a day before its end: nothing yet
    await h.advance(2 * DAY)
    period = {"period_start": T0 + DAY, "period_end": T0 + 8 * DAY}
    await h.send(
        RewardDistribution,
        venue="etherfi",
        token="eETH",
        reward_token="EIGEN",
        amount_per_unit=0.3,  # the published figure loses to what was distributed per eETH: 1000 / 500
        distributed=1_000.0,
        staked=500.0,
        **period,
    )
    await h.send(
        RewardDistribution,
        venue="etherfi",
        token="stETH",
        reward_token="EIGEN",
        amount_per_unit=9.0,
        **period,
    )
    assert not h.of(Settled)

    await h.advance(DAY)  # the period closes
    held = (2 * 10.5 + 2 * 10.6 + 3 * 6.36) / 7  # eETH, time-weighted over the 7 days
    (eigen,) = h.of(Settled)
    assert (eigen.venue, eigen.kind, eigen.instrument, eigen.asset) == (
        "etherfi",
        "rewards",
        "wallet:BaseToken:EIGEN",
        "EIGEN",
    )
    assert eigen.amount == pytest.approx(2.0 * held, rel=1e-12)

    # a top-up paid two days after the same period, with only a per-eETH figure: paid at once
    await h.advance(2 * DAY)
    await h.send(
        RewardDistribution, venue="etherfi", token="eETH", reward_token="ETHFI", amount_per_unit=0.5, **period
    )
    ethfi = h.of(Settled)[-1]
    assert (ethfi.instrument, ethfi.amount) == (
        "wallet:BaseToken:ETHFI",
        pytest.approx(0.5 * held, rel=1e-12),
    )
    book = h.book("wallet:BaseToken:E")  # the position monitor's book, from the events alone
    assert (book["wallet:BaseToken:EIGEN"], book["wallet:BaseToken:ETHFI"]) == (
        pytest.approx(2.0 * held),
        pytest.approx(0.5 * held),
    )


def test_weeth_supplied_to_a_lending_market_earns_as_if_held() -> None:
    accrual = RewardAccrual("weETH", "eETH")
    accrual.on_rate(T0, 1.1)
    accrual.on_changes(T0, {"wallet:BaseToken:weETH": 5.0})
    accrual.on_changes(T0 + DAY, {"wallet:BaseToken:weETH": -5.0, "aave_v3:aToken:aweETH": 5.0})
    accrual.on_changes(T0 + DAY, {"aave_v3:aToken:aUSDT": 100.0, "wallet:BaseToken:wstETH": 3.0})
    accrual.on_changes(T0 + 2 * DAY, {"aave_v3:aToken:aweETH": -5.0})
    assert accrual.history.average(T0, T0 + 4 * DAY) == pytest.approx(5.5 * 2 / 4, rel=1e-12)
