"""Simulated CEX through its gateway on a real bus: fills, funding, proxy marks, margin, withdrawals."""

from __future__ import annotations

import logging

import pytest
from venueutil import HOUR, Harness, changes

from basis.bus.messages import (
    InstructionAccepted,
    InstructionFilled,
    InstructionStatus,
    Liquidated,
    PerpTrade,
    Settled,
    SpotTrade,
    Stake,
    Transfer,
    TransferCompleted,
)
from basis.venues.errors import UnsupportedInstruction
from basis.venues.gateway import VenueGateway
from basis.venues.simulated import SimulatedCex

approx = pytest.approx


async def binance(h: Harness, **kwargs: object) -> SimulatedCex:
    params: dict[str, object] = {
        "venue": "binance",
        "instruments": ("BTCUSDT", "BTCUSDT-PERP", "ETHUSDT-PERP"),
        "spot_taker_fee": 0.001,
        "perp_taker_fee": 0.0005,
        "slippage_bps": 5.0,
        "initial_margin": 0.1,
        "maintenance_margin": 0.05,
        "liquidation_fee": 0.01,
    }
    params.update(kwargs)
    return await h.start(SimulatedCex, **params)  # type: ignore[arg-type]


async def test_is_a_gateway(h: Harness) -> None:
    cex = await binance(h)
    assert isinstance(cex, VenueGateway)
    assert cex.venue == "binance"


async def test_spot_buy_and_sell_at_close_with_slippage_and_fee(h: Harness) -> None:
    cex = await binance(h)
    await h.credit("binance", "USDT", 100_000.0)
    await h.bar("binance", "BTCUSDT", "spot", 60_000.0)

    buy = await h.instruct("binance", SpotTrade(symbol="BTCUSDT", side="buy", quantity=1.0))
    fill = h.filled(buy)
    # docs/accounting.md: buy 1 BTC at 60,030 (5 bps over 60,000), fee 0.1 %
    assert changes(fill) == [
        ("binance:BaseToken:BTC", 1.0, approx(60_030.0)),
        ("binance:BaseToken:USDT", approx(-60_090.03), 0.0),
    ]
    assert (fill.fee, fill.fee_asset, fill.gas_eth) == (approx(60.03), "USDT", 0.0)
    assert [type(e) for e in h.events if getattr(e, "instruction_id", "") == buy.id] == [
        InstructionAccepted,
        type(fill),
    ]

    sell = await h.instruct("binance", SpotTrade(symbol="BTCUSDT", side="sell", quantity=0.5))
    fill = h.filled(sell)
    price = 60_000.0 * (1 - 0.0005)  # 59,970
    assert changes(fill) == [
        ("binance:BaseToken:BTC", -0.5, approx(price)),
        ("binance:BaseToken:USDT", approx(0.5 * price * (1 - 0.001)), 0.0),
    ]
    assert fill.fee == approx(0.5 * price * 0.001)
    assert cex.balances() == {
        "binance:BaseToken:BTC": approx(0.5),
        "binance:BaseToken:USDT": approx(100_000.0 - 60_090.03 + 0.5 * price * 0.999),
    }
    assert h.book("binance:") == cex.balances()


async def test_perp_short_books_two_legs_and_fee(h: Harness) -> None:
    cex = await binance(h)
    await h.credit("binance", "USDT", 10_000.0)
    await h.bar("binance", "BTCUSDT", "perp", 60_000.0)

    short = await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=1.0))
    fill = h.filled(short)
    # docs/accounting.md: short 1 BTC at 59,970, fee 0.05 %
    assert changes(fill) == [
        ("binance:Perp:BTCUSDT", -1.0, approx(59_970.0)),
        ("binance:PerpNotional:BTCUSDT", approx(59_970.0), 0.0),
        ("binance:BaseToken:USDT", approx(-29.985), 0.0),
    ]
    assert (fill.fee, fill.fee_asset) == (approx(29.985), "USDT")
    # the legs are worth the unrealised PnL at any mark
    for mark in (50_000.0, 59_970.0, 61_234.5):
        assert -1.0 * mark + cex.account.notional_leg("BTCUSDT") == approx(59_970.0 - mark)


async def test_perp_reduction_sweeps_realised_pnl_at_average_cost(h: Harness) -> None:
    cex = await binance(h, slippage_bps=0.0, perp_taker_fee=0.0)
    await h.credit("binance", "USDT", 10_000.0)
    await h.bar("binance", "BTCUSDT", "perp", 100.0)
    await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=1.0))
    await h.bar("binance", "BTCUSDT", "perp", 110.0)
    await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=1.0))
    assert cex.account.notional_leg("BTCUSDT") == approx(210.0)  # average entry 105

    await h.bar("binance", "BTCUSDT", "perp", 90.0)
    cover = await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="buy", quantity=0.5))
    assert changes(h.filled(cover)) == [
        ("binance:Perp:BTCUSDT", 0.5, 90.0),
        ("binance:PerpNotional:BTCUSDT", -45.0, 0.0),
        ("binance:PerpNotional:BTCUSDT", approx(-7.5), 0.0),  # 0.5 × (105 − 90) realised
        ("binance:BaseToken:USDT", approx(7.5), 0.0),
    ]
    assert cex.account.notional_leg("BTCUSDT") == approx(1.5 * 105.0)

    # flip from short 1.5 to long 1 at 80: realises 1.5 × 25, the long opens at 80
    await h.bar("binance", "BTCUSDT", "perp", 80.0)
    flip = await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="buy", quantity=2.5))
    assert changes(h.filled(flip))[2:] == [
        ("binance:PerpNotional:BTCUSDT", approx(-37.5), 0.0),
        ("binance:BaseToken:USDT", approx(37.5), 0.0),
    ]
    assert cex.account.contracts("BTCUSDT") == approx(1.0)
    assert cex.account.notional_leg("BTCUSDT") == approx(-80.0)

    close = await h.instruct(
        "binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=5.0, reduce_only=True)
    )
    assert changes(h.filled(close))[0] == ("binance:Perp:BTCUSDT", -1.0, 80.0)  # clipped to the position
    assert cex.balances() == {"binance:BaseToken:USDT": approx(10_000.0 + 7.5 + 37.5)}
    assert h.book("binance:") == cex.balances()


async def test_rejections_are_stable_and_not_transient(h: Harness) -> None:
    await binance(h)
    await h.credit("binance", "USDT", 1_000.0)
    no_price = await h.instruct("binance", SpotTrade(symbol="BTCUSDT", side="buy", quantity=0.01))
    unknown = await h.instruct("binance", PerpTrade(symbol="SOLUSDT", side="sell", quantity=1.0))
    await h.bar("binance", "BTCUSDT", "spot", 60_000.0)
    await h.bar("binance", "BTCUSDT", "perp", 60_000.0)
    broke = await h.instruct("binance", SpotTrade(symbol="BTCUSDT", side="buy", quantity=1.0))
    no_btc = await h.instruct("binance", SpotTrade(symbol="BTCUSDT", side="sell", quantity=1.0))
    margin = await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=1.0))
    reduce = await h.instruct(
        "binance", PerpTrade(symbol="BTCUSDT", side="buy", quantity=0.01, reduce_only=True)
    )
    zero = await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="buy", quantity=0.0))
    wrong = await h.instruct("binance", Stake(token="wstETH", amount=1.0))
    reasons = [h.rejected(i).reason for i in (no_price, unknown, broke, no_btc, margin, reduce, zero, wrong)]
    assert reasons == [
        "no_price",
        "unknown_instrument",
        "insufficient_balance",
        "insufficient_balance",
        "insufficient_margin",
        "reduce_only",
        "invalid_quantity",
        "unsupported_instruction",
    ]
    assert not any(h.rejected(i).transient for i in (no_price, broke, margin))
    assert not h.of(InstructionAccepted)


async def test_limit_orders_are_rejected_and_change_nothing(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    cex = await binance(h)
    await h.credit("binance", "USDT", 10_000.0)
    await h.bar("binance", "BTCUSDT", "perp", 60_000.0)
    before = cex.balances()
    limit = PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.1, order_type="limit", limit_price=61_000.0)
    with caplog.at_level(logging.INFO, logger="basis.venues"):
        order = await h.instruct("binance", limit)
    rejected = h.rejected(order)
    assert (rejected.reason, rejected.transient) == ("unsupported_instruction", False)
    assert "binance simulates market orders only (no limit, take-profit or stop-loss)" in caplog.text
    with pytest.raises(UnsupportedInstruction, match="binance simulates market orders only"):
        await cex.execute(h.instruction("binance", limit))
    assert not h.of(InstructionAccepted)
    assert cex.balances() == before == {"binance:BaseToken:USDT": 10_000.0}
    assert h.book("binance:") == before


async def test_initial_margin_check_at_the_limit(h: Harness) -> None:
    await binance(h, slippage_bps=0.0, perp_taker_fee=0.0)
    await h.credit("binance", "USDT", 600.0)
    await h.bar("binance", "BTCUSDT", "perp", 60_000.0)
    ok = await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.1))  # IM 600
    more = await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.001))
    back = await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="buy", quantity=0.05))
    assert h.filled(ok) and h.rejected(more).reason == "insufficient_margin" and h.filled(back)


async def test_duplicate_instruction_is_answered_once(h: Harness) -> None:
    cex = await binance(h)
    await h.credit("binance", "USDT", 100_000.0)
    await h.bar("binance", "BTCUSDT", "spot", 60_000.0)
    buy = h.instruction("binance", SpotTrade(symbol="BTCUSDT", side="buy", quantity=1.0))
    await h.bus.publish(buy)
    await h.bus.publish(buy)
    answers = [e for e in h.events if getattr(e, "instruction_id", "") == buy.id]
    assert [type(e) for e in answers] == [InstructionAccepted, InstructionFilled, InstructionStatus]
    status = answers[2]
    assert isinstance(status, InstructionStatus)
    assert (status.state, status.outcomes) == (
        "filled",
        tuple(answers[:2]),
    )  # the original answer, ids included
    assert cex.executed == 1  # and executed once
    assert cex.balances()["binance:BaseToken:BTC"] == approx(1.0)
    assert h.book("binance:BaseToken:BTC") == {"binance:BaseToken:BTC": approx(1.0)}  # booked once


async def test_funding_sign_and_amount_use_mark_at_or_before_funding_time(h: Harness) -> None:
    await binance(h, slippage_bps=0.0)
    await h.credit("binance", "USDT", 10_000.0)
    t = h.clock.now_ns()
    await h.bar("binance", "BTCUSDT", "perp", 60_000.0, ts=t)
    await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.1))
    await h.bar("binance", "BTCUSDT", "perp", 62_000.0, ts=t + 8 * HOUR)
    await h.bar("binance", "BTCUSDT", "perp", 65_000.0, ts=t + 9 * HOUR)  # after the funding time
    await h.funding("binance", "BTCUSDT", 0.0001, ts=t + 8 * HOUR)
    await h.funding("binance", "ETHUSDT", 0.0003, ts=t + 8 * HOUR)  # no ETH position: nothing
    await h.funding("binance", "BTCUSDT", -0.0002, ts=t + 16 * HOUR)

    settled = h.of(Settled)
    assert [(s.kind, s.instrument, s.asset) for s in settled] == [
        ("funding", "binance:BaseToken:USDT", "USDT")
    ] * 2
    assert settled[0].amount == approx(0.1 * 62_000.0 * 0.0001)  # the short receives positive funding
    assert settled[1].amount == approx(-0.1 * 65_000.0 * 0.0002)  # and pays negative funding
    assert settled[0].venue == "binance"


async def test_long_pays_positive_funding(h: Harness) -> None:
    await binance(h, slippage_bps=0.0)
    await h.credit("binance", "USDT", 10_000.0)
    await h.bar("binance", "ETHUSDT", "perp", 3_000.0)
    await h.instruct("binance", PerpTrade(symbol="ETHUSDT", side="buy", quantity=2.0))
    await h.funding("binance", "ETHUSDT", 0.0001)
    assert h.of(Settled)[0].amount == approx(-2.0 * 3_000.0 * 0.0001)


async def test_proxy_marks_price_fills_funding_and_margin(h: Harness) -> None:
    okx = await h.start(
        SimulatedCex,
        venue="okx",
        instruments=(),
        marks={"BTCUSDT-PERP": ("binance", "BTCUSDT", "perp")},
        perp_taker_fee=0.0,
        initial_margin=0.1,
        maintenance_margin=0.05,
    )
    await h.credit("okx", "USDT", 1_000.0)
    await h.bar("okx", "BTCUSDT", "perp", 1.0)  # okx's own series is not the mark
    early = await h.instruct("okx", PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.1))
    assert h.rejected(early).reason == "no_price"

    await h.bar("binance", "BTCUSDT", "perp", 60_000.0)
    short = await h.instruct("okx", PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.1))
    assert changes(h.filled(short))[:2] == [
        ("okx:Perp:BTCUSDT", -0.1, 60_000.0),
        ("okx:PerpNotional:BTCUSDT", 6_000.0, 0.0),
    ]

    await h.bar("binance", "BTCUSDT", "perp", 61_000.0)
    await h.funding("okx", "BTCUSDT", 0.0001)
    await h.funding("binance", "BTCUSDT", 0.0005)  # another venue's funding
    assert [s.amount for s in h.of(Settled)] == [approx(0.1 * 61_000.0 * 0.0001)]
    assert okx.account.equity() == approx(1_000.0 + 6_000.0 - 6_100.0 + 0.61)

    await h.bar("binance", "BTCUSDT", "perp", 69_000.0)  # equity 100.61 < 5 % of 6,900
    assert len(h.of(Liquidated)) == 1 and h.of(Liquidated)[0].venue == "okx"


async def test_liquidation_closes_perps_at_mark_with_penalty(h: Harness) -> None:
    cex = await binance(h, slippage_bps=0.0, perp_taker_fee=0.0)
    await h.credit("binance", "USDT", 1_000.0)
    await h.bar("binance", "BTCUSDT", "perp", 60_000.0)
    await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.1))

    await h.bar("binance", "BTCUSDT", "perp", 66_000.0)  # equity 400 ≥ 5 % × 6,600 = 330
    assert not h.of(Liquidated)
    assert cex.account.margin_ratio() == approx(400.0 / 6_600.0)

    await h.bar("binance", "BTCUSDT", "perp", 69_000.0)  # equity 100 < 345
    (liquidation,) = h.of(Liquidated)
    assert changes(liquidation) == [
        ("binance:Perp:BTCUSDT", approx(0.1), 69_000.0),
        ("binance:PerpNotional:BTCUSDT", approx(-6_900.0), 0.0),
        ("binance:PerpNotional:BTCUSDT", approx(900.0), 0.0),
        ("binance:BaseToken:USDT", approx(-900.0), 0.0),
        ("binance:BaseToken:USDT", approx(-69.0), 0.0),
    ]
    assert (liquidation.penalty, liquidation.penalty_asset) == (approx(69.0), "USDT")
    assert cex.balances() == {"binance:BaseToken:USDT": approx(31.0)}
    assert h.book("binance:") == cex.balances()

    await h.bar("binance", "BTCUSDT", "perp", 80_000.0)
    assert len(h.of(Liquidated)) == 1  # nothing left to liquidate


async def test_withdrawal_debits_now_and_arrives_after_delay_minus_fee(h: Harness) -> None:
    cex = await binance(h, withdrawal_delay_s=3_600.0, withdrawal_fees={"USDT": 1.0})
    await h.credit("binance", "USDT", 1_000.0)
    out = await h.instruct(
        "binance", Transfer(source="binance", destination="wallet", asset="USDT", amount=500.0)
    )
    assert changes(h.filled(out)) == [
        ("binance:BaseToken:USDT", -500.0, 0.0),
        ("transit:BaseToken:USDT", 500.0, 0.0),  # the full debit is in flight; the fee is lost at arrival
    ]
    assert cex.balances() == {"binance:BaseToken:USDT": 500.0}

    await h.advance(HOUR // 2)
    assert not h.of(TransferCompleted)[1:]  # only the test's own credit so far
    await h.advance(HOUR // 2)
    arrived = h.of(TransferCompleted)[-1]
    assert (arrived.instruction_id, arrived.source, arrived.destination) == (out.id, "binance", "wallet")
    assert (arrived.amount, arrived.fee) == (499.0, 1.0)
    assert changes(arrived) == [
        ("transit:BaseToken:USDT", -500.0, 0.0),
        ("wallet:BaseToken:USDT", 499.0, 0.0),
    ]
    assert h.book("transit:") == {}  # the transit leg nets to zero once arrived
    assert arrived.causation_id == out.id and arrived.ts == h.clock.now_ns()

    too_much = await h.instruct(
        "binance", Transfer(source="binance", destination="wallet", asset="USDT", amount=501.0)
    )
    elsewhere = await h.instruct(
        "binance", Transfer(source="binance", destination="okx", asset="USDT", amount=1.0)
    )
    assert h.rejected(too_much).reason == "insufficient_balance"
    assert h.rejected(elsewhere).reason == "unknown_destination"


async def test_withdrawal_must_leave_initial_margin(h: Harness) -> None:
    await binance(h, slippage_bps=0.0, perp_taker_fee=0.0)
    await h.credit("binance", "USDT", 1_000.0)
    await h.bar("binance", "BTCUSDT", "perp", 60_000.0)
    await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.1))  # IM 600
    too_much = await h.instruct(
        "binance", Transfer(source="binance", destination="wallet", asset="USDT", amount=401.0)
    )
    ok = await h.instruct(
        "binance", Transfer(source="binance", destination="wallet", asset="USDT", amount=400.0)
    )
    assert h.rejected(too_much).reason == "insufficient_margin"
    assert h.filled(ok)


async def test_opening_margin_never_below_maintenance(h: Harness) -> None:
    """With maintenance above initial margin, an order cannot open straight into liquidation."""
    await binance(h, slippage_bps=0.0, perp_taker_fee=0.0, initial_margin=0.05, maintenance_margin=0.1)
    await h.credit("binance", "USDT", 600.0)
    await h.bar("binance", "BTCUSDT", "perp", 60_000.0)
    big = await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.11))
    ok = await h.instruct("binance", PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.1))
    assert h.rejected(big).reason == "insufficient_margin" and h.filled(ok)
    await h.bar("binance", "BTCUSDT", "perp", 60_000.0)
    assert not h.of(Liquidated)
