"""Simulated wallet through its gateway on a real bus: investor flows, transfers with delay and gas."""

from __future__ import annotations

import pytest
from venueutil import HOUR, Harness, changes

from basis.bus.messages import (
    FlowBooked,
    InstructionAccepted,
    InstructionFilled,
    InvestorDeposit,
    InvestorWithdrawal,
    SpotTrade,
    Supply,
    Transfer,
    TransferCompleted,
)
from basis.venues.simulated import SimulatedAave, SimulatedCex, SimulatedWallet

approx = pytest.approx
ERC20_GAS = 65_000 * 10.0 * 1e-9


async def wallet(h: Harness, **kwargs: object) -> SimulatedWallet:
    w = await h.start(SimulatedWallet, deposit_delays_s={"binance": 600.0, "bybit": 0.0}, **kwargs)  # type: ignore[arg-type]
    await h.gas(10.0)
    return w


async def test_investor_deposit_books_a_flow(h: Harness) -> None:
    w = await wallet(h)
    deposit = await h.send(InvestorDeposit, asset="USDT", amount=1_000.0)
    (flow,) = h.of(FlowBooked)
    assert (flow.kind, flow.amount, flow.asset, flow.instrument, flow.request_id) == (
        "deposit",
        1_000.0,
        "USDT",
        "wallet:BaseToken:USDT",
        deposit.id,
    )
    assert flow.causation_id == deposit.id
    assert w.balances() == {"wallet:BaseToken:USDT": 1_000.0}
    await h.send(InvestorWithdrawal, asset="USDT", amount=100.0)  # the strategy's business, not the wallet's
    assert len(h.of(FlowBooked)) == 1


async def test_transfer_to_investor_books_withdrawal_flow_and_gas(h: Harness) -> None:
    w = await wallet(h)
    await h.send(InvestorDeposit, asset="USDT", amount=1_000.0)
    request = h.make(InvestorWithdrawal, asset="USDT", amount=400.0)
    out = await h.instruct(
        "wallet",
        Transfer(source="wallet", destination="investor", asset="USDT", amount=400.0),
        causation_id=request.id,
        correlation_id=request.id,
    )
    related = [e for e in h.events if e.causation_id == out.id]
    assert [type(e) for e in related] == [InstructionAccepted, FlowBooked, InstructionFilled]
    flow = related[1]
    assert isinstance(flow, FlowBooked)
    assert (flow.kind, flow.amount, flow.instrument, flow.request_id) == (
        "withdrawal",
        400.0,
        "wallet:BaseToken:USDT",
        request.id,
    )
    fill = h.filled(out)
    assert changes(fill) == [("wallet:BaseToken:ETH", approx(-ERC20_GAS), 0.0)]
    assert fill.gas_eth == approx(ERC20_GAS)
    assert w.balances() == {"wallet:BaseToken:USDT": 600.0, "wallet:BaseToken:ETH": approx(-ERC20_GAS)}
    assert h.book("wallet:") == w.balances()

    overdraft = await h.instruct(
        "wallet", Transfer(source="wallet", destination="investor", asset="USDT", amount=600.01)
    )
    assert h.rejected(overdraft).reason == "insufficient_balance"


async def test_transfer_to_cex_arrives_after_deposit_delay(h: Harness) -> None:
    await wallet(h)
    cex = await h.start(SimulatedCex, venue="binance", instruments=("BTCUSDT",), slippage_bps=0.0)
    await h.bar("binance", "BTCUSDT", "spot", 50_000.0)
    await h.send(InvestorDeposit, asset="USDT", amount=10_000.0)
    out = await h.instruct(
        "wallet", Transfer(source="wallet", destination="binance", asset="USDT", amount=6_000.0)
    )
    fill = h.filled(out)
    assert changes(fill) == [
        ("wallet:BaseToken:USDT", -6_000.0, 0.0),
        ("transit:BaseToken:USDT", 6_000.0, 0.0),
        ("wallet:BaseToken:ETH", approx(-ERC20_GAS), 0.0),
    ]
    early = await h.instruct("binance", SpotTrade(symbol="BTCUSDT", side="buy", quantity=0.1))
    assert h.rejected(early).reason == "insufficient_balance"

    await h.advance(HOUR // 12)  # 300 s
    assert not h.of(TransferCompleted)
    await h.advance(HOUR // 12)  # 600 s
    (arrived,) = h.of(TransferCompleted)
    assert (arrived.instruction_id, arrived.source, arrived.destination, arrived.amount) == (
        out.id,
        "wallet",
        "binance",
        6_000.0,
    )
    assert changes(arrived) == [
        ("transit:BaseToken:USDT", -6_000.0, 0.0),
        ("binance:BaseToken:USDT", 6_000.0, 0.0),
    ]
    assert h.book("transit:") == {}  # the transit leg nets to zero once arrived
    assert cex.balances() == {"binance:BaseToken:USDT": 6_000.0}
    later = await h.instruct("binance", SpotTrade(symbol="BTCUSDT", side="buy", quantity=0.1))
    assert h.filled(later)


async def test_zero_delay_arrives_with_the_fill_and_eth_uses_native_gas(h: Harness) -> None:
    w = await wallet(h)
    await h.send(InvestorDeposit, asset="ETH", amount=2.0)
    out = await h.instruct("wallet", Transfer(source="wallet", destination="bybit", asset="ETH", amount=1.5))
    assert changes(h.filled(out)) == [
        ("wallet:BaseToken:ETH", -1.5, 0.0),
        ("transit:BaseToken:ETH", 1.5, 0.0),
        ("wallet:BaseToken:ETH", approx(-21_000 * 10.0 * 1e-9), 0.0),
    ]
    assert changes(h.of(TransferCompleted)[0]) == [
        ("transit:BaseToken:ETH", -1.5, 0.0),
        ("bybit:BaseToken:ETH", 1.5, 0.0),
    ]
    assert h.book("transit:") == {}  # the transit leg nets to zero once arrived
    assert w.balances() == {"wallet:BaseToken:ETH": approx(0.5 - 21_000 * 1e-8)}


async def test_gas_may_overdraw_eth_but_transfers_may_not(h: Harness) -> None:
    w = await wallet(h)
    await h.send(InvestorDeposit, asset="USDT", amount=100.0)
    ok = await h.instruct(
        "wallet", Transfer(source="wallet", destination="bybit", asset="USDT", amount=100.0)
    )
    assert h.filled(ok)
    assert w.balances()["wallet:BaseToken:ETH"] < 0
    eth = await h.instruct(
        "wallet", Transfer(source="wallet", destination="bybit", asset="ETH", amount=0.001)
    )
    assert h.rejected(eth).reason == "insufficient_balance"


async def test_wallet_tracks_other_venues_events_on_wallet_keys(h: Harness) -> None:
    await h.start(SimulatedAave)
    await h.start(SimulatedCex, venue="binance", instruments=("BTCUSDT",), destinations=("wallet",))
    w = await wallet(h)
    await h.reserve("USDT", 1.0, 1.0, 1.0)
    await h.send(InvestorDeposit, asset="USDT", amount=1_000.0)
    assert h.filled(await h.instruct("aave_v3", Supply(asset="USDT", amount=700.0)))
    short = await h.instruct(
        "wallet", Transfer(source="wallet", destination="investor", asset="USDT", amount=301.0)
    )
    assert h.rejected(short).reason == "insufficient_balance"

    await h.credit("binance", "USDT", 50.0)
    await h.instruct("binance", Transfer(source="binance", destination="wallet", asset="USDT", amount=50.0))
    ok = await h.instruct(
        "wallet", Transfer(source="wallet", destination="investor", asset="USDT", amount=350.0)
    )
    assert h.filled(ok)
    assert "wallet:BaseToken:USDT" not in w.balances()
    assert h.book("wallet:") == w.balances()


async def test_rejects_unknown_routes(h: Harness) -> None:
    await wallet(h)
    await h.send(InvestorDeposit, asset="USDT", amount=100.0)
    nowhere = await h.instruct(
        "wallet", Transfer(source="wallet", destination="okx", asset="USDT", amount=1.0)
    )
    not_mine = await h.instruct(
        "wallet", Transfer(source="binance", destination="investor", asset="USDT", amount=1.0)
    )
    swap = await h.instruct("wallet", Supply(asset="USDT", amount=1.0))
    assert [h.rejected(i).reason for i in (nowhere, not_mine, swap)] == [
        "unknown_destination",
        "unknown_destination",
        "unsupported_instruction",
    ]
