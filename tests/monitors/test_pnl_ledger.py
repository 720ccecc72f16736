"""PnlLedger: equity in the share class and attribution by source, exactly as docs/accounting.md."""

from __future__ import annotations

from fractions import Fraction

import pytest

from basis.bus.messages import ClockTicked, Fill, Liquidated, Message, TransactionReverted
from basis.components.pnl_monitor import ATTRIBUTION_KEYS, AttributionError, PnlLedger
from basis.components.pricing import MissingPrice, PriceBook

from .scenario import H, bar, basis_scenario, fill, flow, lst, market, settled


def run_ledger(messages: list[Message], share_class: str) -> PnlLedger:
    """Value like the PnL monitor: after every balance event and on every clock tick."""
    prices = PriceBook()
    ledger = PnlLedger(share_class)
    for message in messages:
        if isinstance(message, ClockTicked):
            prices.advance(message.ts)
            ledger.value(prices)
        elif ledger.record(message):
            ledger.value(prices)
        else:
            prices.apply(message)
    return ledger


def test_attribution_adds_up_exactly_in_usdt() -> None:
    ledger = run_ledger(basis_scenario(), "USDT")
    assert ledger.attribution == {
        "funding": 6.5,
        "lending_interest": 0.25,
        "borrow_cost": 0.0,
        "staking": 0.0,
        "price": -24.0,  # t1→t2: BTC +1536, perp −1600, gas payable −16; t2→t3: −2048 +2080 +24
        "trading_fees": -81.0,  # spot fee 64, perp fee 32 less 16 sold above the mark, transfer fee 1
        "gas": -16.0,  # 2^-7 ETH at 2048
        "rewards": 0.0,
        "liquidation": 0.0,
    }
    assert list(ledger.attribution) == list(ATTRIBUTION_KEYS)
    assert ledger.net_flows == 131072.0 - 4096.0
    assert ledger.equity == 126861.75
    assert ledger.pnl == -114.25 == sum(ledger.attribution.values())
    assert ledger.remainder == 0.0
    assert ledger.book.snapshot() == {
        "aave_v3:aToken:aUSDT": 1024.25,
        "binance:BaseToken:BTC": 1.0,
        "binance:BaseToken:USDT": 60838.5,
        "binance:Perp:BTCUSDT": -1.0,
        "binance:PerpNotional:BTCUSDT": 64016.0,
        "wallet:BaseToken:ETH": -0.0078125,
        "wallet:BaseToken:USDT": 1023.0,
    }


def test_attribution_adds_up_exactly_in_eth() -> None:
    ledger = run_ledger(basis_scenario(), "ETH")
    F = Fraction
    usd = {
        1: {"BTC": 64000, "PERP": 64000, "ETH": 2048},
        2: {"BTC": 65536, "PERP": 65600, "ETH": 4096},
        3: {"BTC": 63488, "PERP": 63520, "ETH": 1024},
    }

    def unit(key: str, t: int) -> Fraction:
        p = usd[t]
        value = {
            "binance:BaseToken:BTC": p["BTC"],
            "binance:Perp:BTCUSDT": p["PERP"],
            "wallet:BaseToken:ETH": p["ETH"],
        }
        return F(value.get(key, 1)) / p["ETH"]

    p1 = {
        "binance:BaseToken:USDT": F(64928),
        "binance:BaseToken:BTC": F(1),
        "binance:Perp:BTCUSDT": F(-1),
        "binance:PerpNotional:BTCUSDT": F(64016),
        "wallet:BaseToken:USDT": F(1023),
        "aave_v3:aToken:aUSDT": F(1024),
        "wallet:BaseToken:ETH": F(-1, 128),
    }
    p2 = {**p1, "binance:BaseToken:USDT": F(129869, 2), "aave_v3:aToken:aUSDT": F(4097, 4)}
    p3 = {**p2, "binance:BaseToken:USDT": p2["binance:BaseToken:USDT"] - 4096}
    price = sum((q * (unit(k, 2) - unit(k, 1)) for k, q in p1.items()), F(0)) + sum(
        (q * (unit(k, 3) - unit(k, 2)) for k, q in p2.items()), F(0)
    )
    expected: dict[str, Fraction] = {
        "funding": F(13, 2) / 4096,
        "lending_interest": F(1, 4) / 4096,
        "borrow_cost": F(0),
        "staking": F(0),
        "price": price,
        "trading_fees": F(-81, 2048),
        "gas": F(-1, 128),
        "rewards": F(0),
        "liquidation": F(0),
    }
    assert ledger.attribution == {k: float(v) for k, v in expected.items()}
    assert ledger.net_flows == 60.0  # 131072 USDT at 2048, less 4096 USDT at 1024
    equity = sum((q * unit(k, 3) for k, q in p3.items()), F(0))
    assert ledger.equity == float(equity)
    assert ledger.remainder == 0.0
    assert ledger.pnl == float(equity - 60) == float(sum(expected.values(), F(0)))


def test_perp_legs_carry_the_unrealised_pnl_and_a_close_realises_it() -> None:
    t1, t2 = H, 2 * H
    messages: list[Message] = [
        *market(t1, 64000.0, 64000.0, 2048.0),
        ClockTicked(id="c1", ts=t1),
        flow(t1, "deposit", 10000.0, "binance:BaseToken:USDT"),
        fill(
            t1,
            "binance",
            ("binance:Perp:BTCUSDT", -1.0),
            ("binance:PerpNotional:BTCUSDT", 64016.0),
            ("binance:BaseToken:USDT", -32.0),
        ),
        *market(t2, 64000.0, 65600.0, 2048.0),
        ClockTicked(id="c2", ts=t2),
    ]
    ledger = run_ledger(messages, "USDT")
    legs = (
        ledger.book.positions["binance:Perp:BTCUSDT"] * 65600.0
        + ledger.book.positions["binance:PerpNotional:BTCUSDT"]
    )
    assert legs == 64016.0 - 65600.0  # unrealised PnL of the short
    assert ledger.equity == 10000.0 - 32.0 + legs
    assert ledger.attribution["price"] == -1600.0 and ledger.attribution["trading_fees"] == -16.0
    closing: list[Message] = [
        fill(
            t2,
            "binance",
            ("binance:Perp:BTCUSDT", 1.0),
            ("binance:PerpNotional:BTCUSDT", -65664.0),
            ("binance:BaseToken:USDT", -32.0),
        ),
        # the venue sweeps the realised PnL into the margin balance: a move between two keys worth 1
        fill(t2, "binance", ("binance:PerpNotional:BTCUSDT", 1648.0), ("binance:BaseToken:USDT", -1648.0)),
    ]
    ledger = run_ledger(messages + closing, "USDT")
    assert ledger.book.snapshot() == {"binance:BaseToken:USDT": 10000.0 - 32.0 - 32.0 - 1648.0}
    assert ledger.attribution["trading_fees"] == -16.0 - 96.0
    assert ledger.pnl == -1712.0 == ledger.attribution["price"] + ledger.attribution["trading_fees"]


def test_gas_is_split_from_the_rest_of_an_on_chain_fill() -> None:
    t1 = H
    messages: list[Message] = [
        *market(t1, 64000.0, 64000.0, 2048.0),
        lst(t1, "weETH", 1.0625),
        ClockTicked(id="c", ts=t1),
        flow(t1, "deposit", 2.0, "wallet:BaseToken:weETH", asset="weETH"),
        # unstake 2 weETH for 2.0625 ETH (slippage 0.0625 ETH) paying 0.0078125 ETH gas, one net ETH change
        fill(
            t1,
            "etherfi",
            ("wallet:BaseToken:weETH", -2.0),
            ("wallet:BaseToken:ETH", 2.0625 - 0.0078125),
            gas_eth=0.0078125,
        ),
    ]
    ledger = run_ledger(messages, "ETH")
    assert ledger.attribution["gas"] == -0.0078125
    assert ledger.attribution["trading_fees"] == -0.0625
    assert ledger.net_flows == 2.125
    assert ledger.equity == 2.0546875 and ledger.remainder == 0.0


@pytest.mark.parametrize("share_class", ["USDT", "ETH"])
def test_an_exchange_rate_move_is_staking_and_the_eth_move_is_price(share_class: str) -> None:
    """A token valued at rate × ETH: q × unit now × (1 − rate then / rate now) is staking, the rest price;
    an aToken and a debt of the token are split the same way."""
    t1, t2 = H, 2 * H
    messages: list[Message] = [
        *market(t1, 64000.0, 64000.0, 2048.0),
        lst(t1, "weETH", 1.0),
        ClockTicked(id="c1", ts=t1),
        flow(t1, "deposit", 8.0, "wallet:BaseToken:weETH", asset="weETH"),
        flow(t1, "deposit", 4.0, "aave_v3:aToken:aweETH", asset="weETH"),
        flow(t1, "deposit", 2.0, "aave_v3:debtToken:debtweETH", asset="weETH"),  # valued at −rate × ETH
        *market(t2, 64000.0, 64000.0, 4096.0),
        lst(t2, "weETH", 1.25),
        ClockTicked(id="c2", ts=t2),
    ]
    ledger = run_ledger(messages, share_class)
    held = 8.0 + 4.0 - 2.0  # weETH
    eth = 4096.0 if share_class == "USDT" else 1.0  # one ETH now, in the share class
    then = 2048.0 if share_class == "USDT" else 1.0
    assert ledger.attribution["staking"] == pytest.approx(held * (1.25 - 1.0) * eth, rel=1e-12)
    assert ledger.attribution["price"] == pytest.approx(held * 1.0 * (eth - then), rel=1e-12, abs=1e-12)
    assert abs(ledger.remainder) <= 1e-12 * ledger.equity


def test_settlements_liquidations_and_borrow_cost() -> None:
    t1 = H
    prices = PriceBook()
    for message in market(t1, 64000.0, 64000.0, 2048.0):
        prices.apply(message)
    ledger = PnlLedger("USDT")
    for message in (
        flow(t1, "deposit", 4.0, "aave_v3:aToken:aWETH", asset="WETH"),
        fill(t1, "aave_v3", ("aave_v3:debtToken:debtWETH", 2.0), ("wallet:BaseToken:WETH", 2.0)),
        settled(t1, "aave_v3:debtToken:debtWETH", "borrow_cost", 0.0625, "WETH"),
        settled(t1, "wallet:BaseToken:WETH", "rewards", 0.015625, "WETH"),
        settled(t1, "wallet:BaseToken:WETH", "staking", 0.03125, "WETH"),
        Liquidated(
            id="liq",
            ts=t1,
            venue="aave_v3",
            penalty=0.0625,
            penalty_asset="WETH",
            changes=(
                Fill(instrument="aave_v3:aToken:aWETH", delta=-1.0625),
                Fill(instrument="aave_v3:debtToken:debtWETH", delta=-1.0),
            ),
        ),
    ):
        ledger.record(message)
        ledger.value(prices)
    assert ledger.attribution["borrow_cost"] == -0.0625 * 2048.0
    assert ledger.attribution["rewards"] == 0.015625 * 2048.0
    assert ledger.attribution["staking"] == 0.03125 * 2048.0
    assert ledger.attribution["liquidation"] == -0.0625 * 2048.0
    assert ledger.remainder == 0.0


def test_through_credits_only_the_events_the_valuation_reflects() -> None:
    prices = PriceBook()
    for message in market(H, 64000.0, 64000.0, 2048.0):
        prices.apply(message)
    ledger = PnlLedger("USDT")
    first = flow(H, "deposit", 100.0, "binance:BaseToken:USDT")
    second = flow(H, "deposit", 50.0, "binance:BaseToken:USDT")
    ledger.record(first)
    ledger.record(second)
    ledger.value(prices, through=first.id)
    assert (ledger.equity, len(ledger.pending)) == (100.0, 1)
    ledger.value(prices, through=first.id)  # already credited: nothing more
    assert ledger.equity == 100.0
    ledger.value(prices, through=second.id)
    assert (ledger.equity, ledger.net_flows, ledger.pending) == (150.0, 150.0, [])


def test_a_missing_price_leaves_the_ledger_untouched_until_it_arrives() -> None:
    prices = PriceBook()
    ledger = PnlLedger("USDT")
    ledger.record(flow(H, "deposit", 1.0, "binance:BaseToken:BTC", asset="BTC"))
    with pytest.raises(MissingPrice, match="binance:BaseToken:BTC"):
        ledger.value(prices)
    assert (ledger.valuations, ledger.equity, len(ledger.pending), ledger.book.positions) == (0, 0.0, 1, {})
    prices.apply(bar(H, "binance", "BTCUSDT", "spot", 64000.0))
    ledger.value(prices)
    assert (ledger.equity, ledger.net_flows, ledger.pending) == (64000.0, 64000.0, [])


def test_dust_left_by_a_close_is_written_off_to_its_source() -> None:
    prices = PriceBook()
    for message in market(H, 64000.0, 64000.0, 2048.0):
        prices.apply(message)
    ledger = PnlLedger("USDT")
    ledger.record(flow(H, "deposit", 0.3, "binance:BaseToken:BTC", asset="BTC"))
    for _ in range(3):
        ledger.record(fill(H, "binance", ("binance:BaseToken:BTC", -0.1), ("binance:BaseToken:USDT", 6400.0)))
    ledger.value(prices)
    assert "binance:BaseToken:BTC" not in ledger.book.positions  # 0.3 − 3 × 0.1 ≈ 2.8e-17 dropped as dust
    assert abs(ledger.remainder) <= 1e-9 * ledger.equity
    assert ledger.attribution["trading_fees"] != 0.0


def test_a_remainder_beyond_rounding_is_an_error() -> None:
    prices = PriceBook()
    ledger = PnlLedger("USDT")
    ledger.record(flow(H, "deposit", 100.0, "binance:BaseToken:USDT"))
    ledger.value(prices)
    ledger.attribution["funding"] += 1e-3  # a credit nothing in the book accounts for
    with pytest.raises(AttributionError, match=r"remainder|limit"):
        ledger.value(prices)
    assert ledger.remainder == pytest.approx(-1e-3)


def test_gas_is_taken_from_the_change_that_carries_it() -> None:
    prices = PriceBook()
    for message in market(H, 64000.0, 64000.0, 2048.0):
        prices.apply(message)
    prices.apply(lst(H, "weETH", 1.0625))
    ledger = PnlLedger("ETH")
    ledger.record(flow(H, "deposit", 2.0, "wallet:BaseToken:weETH", asset="weETH"))
    # ETH received first, gas booked as the fill's last change
    ledger.record(
        fill(
            H,
            "etherfi",
            ("wallet:BaseToken:weETH", -2.0),
            ("wallet:BaseToken:ETH", 2.0625),
            ("wallet:BaseToken:ETH", -0.0078125),
            gas_eth=0.0078125,
        )
    )
    ledger.value(prices)
    assert (ledger.attribution["gas"], ledger.attribution["trading_fees"]) == (-0.0078125, -0.0625)
    assert ledger.remainder == 0.0


def test_the_gas_of_a_reverted_transaction_is_booked_and_attributed_to_gas() -> None:
    t1 = 1 * H
    reverted = TransactionReverted(
        id="tx.1",
        ts=t1,
        instruction_id="bundle.1",
        venue="instadapp",
        tx_hash="0x" + "ab" * 32,
        block=20_000_000,
        reason="step 2: HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD",
        changes=(Fill(instrument="wallet:BaseToken:ETH", delta=-0.0078125),),
        gas_eth=0.0078125,
    )
    messages = [
        *market(t1, 65536.0, 65536.0, 2048.0),
        flow(t1, "deposit", 4096.0, "wallet:BaseToken:USDT"),
        reverted,
    ]
    ledger = run_ledger(messages, "USDT")
    assert ledger.book.snapshot() == {"wallet:BaseToken:ETH": -0.0078125, "wallet:BaseToken:USDT": 4096.0}
    assert ledger.attribution["gas"] == -16.0  # 2^-7 ETH at 2048
    assert ledger.pnl == -16.0 == sum(ledger.attribution.values())
    assert ledger.remainder == 0.0
