"""Atomic bundles on the simulated chain: all steps or none, over the same state the venues keep."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import pytest
from venueutil import Harness, changes

from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    AtomicBundle,
    Borrow,
    FlashLoan,
    InstructionFilled,
    InvestorDeposit,
    LstRate,
    Repay,
    SetEMode,
    Stake,
    Step,
    Supply,
    Swap,
    Unstake,
)
from basis.venues.simulated import SimulatedAave, SimulatedStaking, SimulatedWallet
from basis.venues.simulated.bundle import FlashLender, SimulatedBundler
from basis.venues.simulated.chain import SimulatedChain
from basis.venues.simulated.onchain import OnChainGateway

approx = pytest.approx
GWEI = 10.0
RATE = 1.05  # ETH per weETH
ETH_USD = 3_000.0
WEETH = 50.0 / RATE  # what staking 50 ETH mints


def bundler(
    bus: Bus, clock: Clock, ids: IdFactory, contracts: Mapping[str, OnChainGateway]
) -> SimulatedBundler:
    lenders = {"morpho": FlashLender("morpho", gas_units=80_000)}
    return SimulatedBundler(bus, clock, ids, contracts=contracts, lenders=lenders)


async def chain(h: Harness) -> SimulatedChain:
    sim = await h.start(
        SimulatedChain,
        contracts=[
            SimulatedWallet,
            SimulatedAave,
            functools.partial(SimulatedStaking, venue="etherfi", token="weETH"),
        ],
        bundler=bundler,
    )
    await h.gas(GWEI)
    await h.send(LstRate, venue="etherfi", token="weETH", rate=RATE)
    await h.reserve("WETH", 1.0, 1.0, ETH_USD)
    await h.reserve("weETH", 1.0, 1.0, ETH_USD * RATE)
    await h.send(InvestorDeposit, asset="ETH", amount=10.0)
    return sim


def leverage(borrow: float, *, loan: float = 40.0) -> AtomicBundle:
    """Flash-borrow ``loan`` WETH, stake 50 ETH, enter eMode, supply the weETH, borrow ``borrow`` WETH."""
    return AtomicBundle(
        flash_loan=FlashLoan(venue="morpho", asset="WETH", amount=loan),
        steps=(
            Step(venue="etherfi", action=Stake(token="weETH", amount=50.0)),
            Step(venue="aave_v3", action=SetEMode(category=1)),
            Step(venue="aave_v3", action=Supply(asset="weETH", amount=WEETH)),
            Step(venue="aave_v3", action=Borrow(asset="WETH", amount=borrow)),
        ),
    )


def state(sim: SimulatedChain) -> tuple[object, ...]:
    aave = sim.gateway("aave_v3")
    assert isinstance(aave, SimulatedAave)
    return (
        sim.balances(),
        aave.account.emode,
        aave.account.snapshot(),
        sim.gateway("wallet").wallet.snapshot(),
    )


async def test_a_bundle_whose_fourth_step_fails_changes_nothing(h: Harness) -> None:
    sim = await chain(h)
    before, book = state(sim), h.book()
    # 47 WETH of debt against 47.6 weETH: above eMode's 93% LTV
    bundle = await h.instruct("instadapp", leverage(borrow=47.0))
    rejected = h.rejected(bundle)
    assert (rejected.reason, rejected.step) == ("exceeds_ltv", 3)
    assert rejected.detail.startswith("step 3 (aave_v3 borrow): borrow 47 WETH")
    assert state(sim) == before  # eMode entered and weETH supplied by steps 1 and 2: taken back
    assert h.book() == book  # nothing was booked: no fill, no gas
    assert not h.of(InstructionFilled)


async def test_a_bundle_that_goes_through_moves_every_venue_in_one_fill(h: Harness) -> None:
    sim = await chain(h)
    bundle = await h.instruct("instadapp", leverage(borrow=40.0))
    fill = h.filled(bundle)
    gas = (120_000 + 60_000 + 220_000 + 300_000 + 80_000 + 150_000) * GWEI * 1e-9
    assert changes(fill) == [
        ("wallet:BaseToken:ETH", -50.0, 0.0),
        ("wallet:BaseToken:weETH", approx(WEETH), RATE),
        ("wallet:BaseToken:weETH", approx(-WEETH), 0.0),
        ("aave_v3:aToken:aweETH", approx(WEETH), 0.0),
        ("aave_v3:debtToken:debtWETH", 40.0, 0.0),
        ("wallet:BaseToken:ETH", 40.0, 0.0),
        ("wallet:BaseToken:ETH", approx(-gas), 0.0),
    ]
    assert fill.gas_eth == approx(gas)
    assert h.book() == {
        "aave_v3:aToken:aweETH": approx(WEETH),
        "aave_v3:debtToken:debtWETH": 40.0,
        "wallet:BaseToken:ETH": approx(-gas),  # 10 own + 40 borrowed - 50 staked, less the gas
    }
    # the bundle changed the AAVE account the aave_v3 venue keeps: a repay there finds the debt
    aave = sim.gateway("aave_v3")
    assert isinstance(aave, SimulatedAave)
    assert aave.account.emode and aave.account.debt_balance("WETH") == 40.0
    await h.send(InvestorDeposit, asset="ETH", amount=1.0)
    repay = await h.instruct("aave_v3", Repay(asset="WETH", amount=0.5))
    assert h.filled(repay)
    assert aave.account.debt_balance("WETH") == approx(39.5)


async def test_a_flash_loan_the_steps_cannot_repay_changes_nothing(h: Harness) -> None:
    sim = await chain(h)
    before = state(sim)
    bundle = await h.instruct("instadapp", leverage(borrow=30.0))
    rejected = h.rejected(bundle)
    assert (rejected.reason, rejected.step) == ("flash_loan_unpaid", None)
    assert "leave 30 to repay 40" in rejected.detail
    assert state(sim) == before


@pytest.mark.parametrize(
    ("step", "reason", "detail"),
    [
        (
            Step(venue="etherfi", action=Unstake(token="weETH", amount=1.0)),
            "unsupported_instruction",
            "queue",
        ),
        (
            Step(venue="uniswap", action=Swap(sell_asset="weETH", buy_asset="ETH", amount=1.0)),
            "unknown_destination",
            "uniswap",
        ),
        (Step(venue="aave_v3", action=Supply(asset="weETH", amount=100.0)), "insufficient_balance", "weETH"),
    ],
)
async def test_a_step_a_venue_refuses_is_named(h: Harness, step: Step, reason: str, detail: str) -> None:
    sim = await chain(h)
    before = state(sim)
    first = Step(venue="etherfi", action=Stake(token="weETH", amount=5.0))
    bundle = await h.instruct("instadapp", AtomicBundle(steps=(first, step)))
    rejected = h.rejected(bundle)
    assert (rejected.reason, rejected.step) == (reason, 1)
    assert (
        rejected.detail.startswith(f"step 1 ({step.venue} {step.action.kind}): ")
        and detail in rejected.detail
    )
    assert state(sim) == before


async def test_the_chain_answers_each_venue_and_pings_as_one(h: Harness) -> None:
    sim = await chain(h)
    assert sim.venues == ["wallet", "aave_v3", "etherfi", "instadapp"]
    stake = await h.instruct("etherfi", Stake(token="weETH", amount=2.1))
    assert h.filled(stake).venue == "etherfi"
    assert sim.balances()["wallet:BaseToken:weETH"] == approx(2.0)
