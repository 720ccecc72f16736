"""Simulated staking and DEX through their gateways on a real bus."""

from __future__ import annotations

import pytest
from venueutil import HOUR, Harness, changes

from basis.bus.messages import InvestorDeposit, LstRate, Settled, Stake, Swap, TransferCompleted, Unstake
from basis.venues.simulated import SimulatedDex, SimulatedStaking, SimulatedWallet

approx = pytest.approx


async def test_stake_at_rate_and_unstake_after_delay(h: Harness) -> None:
    lido = await h.start(SimulatedStaking, venue="lido", token="wstETH", unstake_delay_s=5 * 86_400.0)
    await h.start(SimulatedWallet)
    await h.gas(10.0)
    await h.send(InvestorDeposit, asset="ETH", amount=2.0)
    early = await h.instruct("lido", Stake(token="wstETH", amount=1.2))
    assert h.rejected(early).reason == "no_price"

    await h.send(LstRate, venue="lido", token="wstETH", rate=1.2)
    stake = await h.instruct("lido", Stake(token="wstETH", amount=1.2))
    gas = 120_000 * 10.0 * 1e-9
    assert changes(h.filled(stake)) == [
        ("wallet:BaseToken:ETH", -1.2, 0.0),
        ("wallet:BaseToken:wstETH", approx(1.0), 1.2),
        ("wallet:BaseToken:ETH", approx(-gas), 0.0),
    ]
    wrong = await h.instruct("lido", Stake(token="weETH", amount=0.1))
    broke = await h.instruct("lido", Stake(token="wstETH", amount=0.9))
    assert h.rejected(wrong).reason == "unknown_instrument"
    assert h.rejected(broke).reason == "insufficient_balance"

    await h.send(LstRate, venue="lido", token="wstETH", rate=1.25)
    await h.advance(HOUR)
    assert not h.of(Settled)  # the return accrues through the rate
    unstake = await h.instruct("lido", Unstake(token="wstETH", amount=0.5))
    assert changes(h.filled(unstake)) == [
        ("wallet:BaseToken:wstETH", -0.5, 1.25),
        ("wallet:BaseToken:ETH", approx(-150_000 * 10.0 * 1e-9), 0.0),
        ("transit:BaseToken:ETH", 0.625, 0.0),
    ]
    await h.advance(4 * 24 * HOUR)
    assert not h.of(TransferCompleted)
    await h.advance(24 * HOUR)
    (arrived,) = h.of(TransferCompleted)
    assert (arrived.source, arrived.destination, arrived.asset, arrived.amount) == (
        "lido",
        "wallet",
        "ETH",
        0.625,
    )
    assert changes(arrived) == [("transit:BaseToken:ETH", -0.625, 0.0), ("wallet:BaseToken:ETH", 0.625, 0.0)]
    assert h.book("transit:") == {}  # the transit leg nets to zero once arrived
    assert h.book("wallet:") == lido.wallet.snapshot()
    assert h.book("wallet:")["wallet:BaseToken:wstETH"] == approx(0.5)


async def dex(h: Harness) -> SimulatedDex:
    d = await h.start(
        SimulatedDex,
        venue="uniswap",
        pools={"WETHUSDT": ("WETH", "USDT")},
        bar_venue="uniswap_v3",
        pool_fee=0.003,
        slippage_bps=10.0,
    )
    await h.start(SimulatedWallet)
    await h.gas(10.0)
    await h.bar("uniswap_v3", "WETHUSDT", "dex", 3_000.0)
    return d


async def test_swap_quote_for_base_with_fee_and_slippage(h: Harness) -> None:
    await dex(h)
    await h.send(InvestorDeposit, asset="USDT", amount=10_000.0)
    swap = await h.instruct(
        "uniswap", Swap(sell_asset="USDT", buy_asset="WETH", amount=3_000.0, max_slippage_bps=50.0)
    )
    fill = h.filled(swap)
    price = 3_000.0 * 1.001
    gas = 180_000 * 10.0 * 1e-9
    assert changes(fill) == [
        ("wallet:BaseToken:USDT", -3_000.0, 0.0),
        ("wallet:BaseToken:ETH", approx(3_000.0 * 0.997 / price), approx(price)),
        ("wallet:BaseToken:ETH", approx(-gas), 0.0),
    ]
    assert (fill.fee, fill.fee_asset, fill.gas_eth) == (approx(9.0), "USDT", approx(gas))


async def test_swap_base_for_quote_and_limits(h: Harness) -> None:
    await dex(h)
    await h.send(InvestorDeposit, asset="ETH", amount=1.0)
    swap = await h.instruct("uniswap", Swap(sell_asset="ETH", buy_asset="USDT", amount=1.0))
    assert changes(h.filled(swap))[:2] == [
        ("wallet:BaseToken:ETH", -1.0, approx(2_997.0)),
        ("wallet:BaseToken:USDT", approx(0.997 * 2_997.0), 0.0),
    ]
    tight = await h.instruct(
        "uniswap", Swap(sell_asset="USDT", buy_asset="ETH", amount=10.0, max_slippage_bps=5.0)
    )
    pair = await h.instruct("uniswap", Swap(sell_asset="USDT", buy_asset="BTC", amount=10.0))
    broke = await h.instruct("uniswap", Swap(sell_asset="ETH", buy_asset="USDT", amount=0.1))
    assert [h.rejected(i).reason for i in (tight, pair, broke)] == [
        "slippage_exceeded",
        "unknown_instrument",
        "insufficient_balance",
    ]


async def test_price_impact_is_sized_by_the_pools_depth(h: Harness) -> None:
    """With 1,000,000 USDT of depth on each side, selling 100 ETH (299,100 USDT after the 0.3% fee) moves
    the price by 299,100 / 1,299,100 (23%) on top of the flat slippage; a limit below that is refused and
    names the impact."""
    await h.start(
        SimulatedDex,
        venue="uniswap",
        pools={"WETHUSDT": ("WETH", "USDT")},
        bar_venue="uniswap_v3",
        pool_fee=0.003,
        slippage_bps=10.0,
        depth={"WETHUSDT": 1_000_000.0},
    )
    await h.start(SimulatedWallet)
    await h.gas(10.0)
    await h.bar("uniswap_v3", "WETHUSDT", "dex", 3_000.0)
    await h.send(InvestorDeposit, asset="ETH", amount=101.0)
    value = 100.0 * 0.997 * 3_000.0
    impact = value / (1_000_000.0 + value)
    limited = await h.instruct(
        "uniswap", Swap(sell_asset="ETH", buy_asset="USDT", amount=100.0, max_slippage_bps=2_000.0)
    )
    rejected = h.rejected(limited)
    assert rejected.reason == "slippage_exceeded" and "price impact" in (rejected.detail or "")
    swap = await h.instruct(
        "uniswap", Swap(sell_asset="ETH", buy_asset="USDT", amount=100.0, max_slippage_bps=2_500.0)
    )
    price = 3_000.0 * (1.0 - 0.001 - impact)
    assert changes(h.filled(swap))[:2] == [
        ("wallet:BaseToken:ETH", -100.0, approx(price)),
        ("wallet:BaseToken:USDT", approx(99.7 * price), 0.0),
    ]
