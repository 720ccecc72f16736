"""Every fill obeys docs/accounting.md: perp legs, realised PnL sweeps, fee attribution, one book for all."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from venueutil import T0, Harness

from basis.bus.messages import (
    Bar,
    Borrow,
    InstructionRejected,
    InvestorDeposit,
    LstRate,
    PerpTrade,
    SpotTrade,
    Stake,
    Supply,
    Swap,
    Transfer,
)
from basis.venues.errors import REASONS, InstructionError, TransientError, VenueError, error_for
from basis.venues.simulated import (
    SimulatedAave,
    SimulatedCex,
    SimulatedDex,
    SimulatedStaking,
    SimulatedWallet,
)
from basis.venues.simulated.cex import CexAccount

approx = pytest.approx


class AverageCost:
    """Reference average-cost book of one perp (independent of the venue code)."""

    def __init__(self) -> None:
        self.contracts = 0.0
        self.entry = 0.0
        self.realised = 0.0

    def trade(self, delta: float, price: float) -> None:
        held = self.contracts
        if held == 0.0 or (held > 0) == (delta > 0):
            self.entry = (held * self.entry + delta * price) / (held + delta)
            self.contracts = held + delta
            return
        closed = min(abs(delta), abs(held))
        self.realised += closed * math.copysign(1.0, held) * (price - self.entry)
        if abs(delta) > abs(held):
            self.contracts, self.entry = held + delta, price
        elif abs(delta) == abs(held):
            self.contracts, self.entry = 0.0, 0.0
        else:
            self.contracts = held + delta


def bar(close: float, ts: int) -> Bar:
    return Bar(
        id=f"b{ts}",
        ts=ts,
        venue="binance",
        symbol="BTCUSDT",
        market="perp",
        open_ts=ts,
        interval_s=3600,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1.0,
    )


trades = st.lists(
    st.tuples(
        st.floats(1_000.0, 100_000.0),
        st.sampled_from(["buy", "sell"]),
        st.sampled_from([0.001, 0.01, 0.1, 0.25, 0.5, 1.0, 1.5, 3.0]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(trades=trades, probe=st.floats(500.0, 200_000.0))
def test_perp_legs_equal_unrealised_pnl_and_sweeps_equal_realised_pnl(
    trades: list[tuple[float, str, float]], probe: float
) -> None:
    account = CexAccount(
        "binance",
        instruments=("BTCUSDT-PERP",),
        perp_taker_fee=0.0005,
        slippage_bps=3.0,
        initial_margin=0.0,
        maintenance_margin=0.0,
    )
    usdt = 1e9
    account.balances.apply(account.usdt, usdt)
    reference = AverageCost()
    fees = 0.0
    for i, (close, side, quantity) in enumerate(trades):
        account.on_bar(bar(close, T0 + i))
        execution = account.perp_trade("BTCUSDT", side, quantity)
        traded = execution.changes[0]
        reference.trade(traded.delta, traded.price)
        fees += execution.fee
        # the fill's value at the mark is slippage against the mark plus the fee, nothing else
        value = sum(
            c.delta * (close if c.instrument.endswith("Perp:BTCUSDT") else 1.0) for c in execution.changes
        )
        assert value == approx(traded.delta * (close - traded.price) - execution.fee, abs=1e-6)

        contracts, legs = account.contracts("BTCUSDT"), account.notional_leg("BTCUSDT")
        assert contracts == approx(reference.contracts, abs=1e-9)
        assert legs == approx(-reference.contracts * reference.entry, rel=1e-9, abs=1e-6)
        assert contracts * probe + legs == approx(
            reference.contracts * (probe - reference.entry), rel=1e-9, abs=1e-6
        )
        assert account.balances.get(account.usdt) - usdt == approx(
            reference.realised - fees, rel=1e-9, abs=1e-6
        )


async def test_one_book_position_monitor_and_venues_agree(h: Harness) -> None:
    """A run across every simulated venue: the position monitor, fed only by events, holds exactly the
    balances each venue holds."""
    wallet = await h.start(SimulatedWallet, deposit_delays_s={"binance": 0.0})
    cex = await h.start(
        SimulatedCex,
        venue="binance",
        instruments=("BTCUSDT", "BTCUSDT-PERP"),
        slippage_bps=2.0,
        withdrawal_fees={"USDT": 1.0},
    )
    aave = await h.start(SimulatedAave)
    lido = await h.start(SimulatedStaking, venue="lido", token="wstETH")
    await h.start(SimulatedDex, venue="uniswap", pools={"WETHUSDT": ("WETH", "USDT")})
    await h.gas(12.5)
    await h.reserve("USDT", 1.0, 1.0, 1.0)
    await h.reserve("WETH", 1.0, 1.0, 3_000.0)
    await h.bar("uniswap", "WETHUSDT", "dex", 3_000.0)
    await h.bar("binance", "BTCUSDT", "spot", 60_000.0)
    await h.bar("binance", "BTCUSDT", "perp", 60_050.0)
    await h.send(LstRate, venue="lido", token="wstETH", rate=1.2)

    await h.send(InvestorDeposit, asset="USDT", amount=100_000.0)
    await h.instruct(
        "wallet", Transfer(source="wallet", destination="binance", asset="USDT", amount=40_000.0)
    )
    await h.instruct("binance", SpotTrade(symbol="BTCUSDT", side="buy", quantity=0.3))
    await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.3))
    await h.bar("binance", "BTCUSDT", "perp", 61_000.0)
    await h.funding("binance", "BTCUSDT", 0.0001)
    await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="buy", quantity=0.1))
    await h.instruct("binance", Transfer(source="binance", destination="wallet", asset="USDT", amount=500.0))
    await h.instruct("uniswap", Swap(sell_asset="USDT", buy_asset="WETH", amount=15_000.0))
    await h.instruct("lido", Stake(token="wstETH", amount=2.0))
    await h.instruct("aave_v3", Supply(asset="WETH", amount=2.5))
    await h.instruct("aave_v3", Supply(asset="USDT", amount=20_000.0))
    await h.instruct("aave_v3", Borrow(asset="USDT", amount=5_000.0))
    await h.reserve("USDT", 1.001, 1.002, 1.0)
    await h.advance(3_600 * 1_000_000_000)

    assert not h.of(InstructionRejected)
    venues_book = {**wallet.balances(), **cex.balances(), **aave.balances()}
    book = h.book()
    assert book.keys() == venues_book.keys()
    for key, value in venues_book.items():
        assert book[key] == approx(value, rel=1e-12, abs=1e-9), key
    assert lido.wallet.snapshot() == approx(wallet.balances())
    assert aave.wallet.snapshot() == approx(wallet.balances())
    assert not (wallet._own or aave._own or lido._own)  # every own event came back and was skipped once


def test_reasons_are_unique_stable_strings() -> None:
    assert len(REASONS) == len({c.reason for c in REASONS.values()})
    assert REASONS["insufficient_margin"].transient is False
    assert all(
        issubclass(c, InstructionError)
        for c in REASONS.values()
        if not c.transient and c.reason.startswith("no_")
    )
    assert all(issubclass(c, TransientError) for c in REASONS.values() if c.transient)
    assert error_for("rate_limited").transient and not error_for("exceeds_ltv").transient
    assert type(error_for("nonsense")) is VenueError
