"""Exposures: values in USDT and in the share class, underlying deltas, net delta, revaluation on ticks."""

from __future__ import annotations

import pytest

from basis.bus.messages import Exposure
from basis.components.exposure_monitor import Exposures, value_book
from basis.components.pricing import MissingPrice, PriceBook

from .scenario import H, bar, lst, market


def prices_at(btc: float = 64000.0, perp: float = 64016.0, eth: float = 2048.0) -> PriceBook:
    prices = PriceBook()
    for message in market(H, btc, perp, eth):
        prices.apply(message)
    prices.apply(lst(H, "weETH", 1.0625))
    return prices


POSITIONS = {
    "binance:BaseToken:BTC": 1.0,
    "binance:BaseToken:USDT": 1000.0,
    "binance:Perp:BTCUSDT": -1.0,
    "binance:PerpNotional:BTCUSDT": 64000.0,
    "wallet:BaseToken:weETH": 8.0,
    "aave_v3:aToken:aweETH": 16.0,
    "aave_v3:debtToken:debtWETH": 12.0,
    "wallet:BaseToken:ETH": -0.5,
}


def test_values_and_deltas_usdt_share_class() -> None:
    v = value_book(POSITIONS, prices_at(), "USDT")
    e = v.exposures
    assert list(e) == sorted(POSITIONS)
    assert e["binance:BaseToken:BTC"] == Exposure(
        quantity=1.0, asset="BTC", value_usd=64000.0, value_share=64000.0, delta=1.0
    )
    assert e["binance:Perp:BTCUSDT"] == Exposure(
        quantity=-1.0, asset="BTC", value_usd=-64016.0, value_share=-64016.0, delta=-1.0
    )
    assert (
        e["binance:PerpNotional:BTCUSDT"].delta == 0.0 and e["binance:PerpNotional:BTCUSDT"].asset == "USDT"
    )
    assert e["binance:BaseToken:USDT"] == Exposure(
        quantity=1000.0, asset="USDT", value_usd=1000.0, value_share=1000.0, delta=0.0
    )
    assert e["wallet:BaseToken:weETH"] == Exposure(
        quantity=8.0, asset="ETH", value_usd=8.0 * 1.0625 * 2048.0, value_share=17408.0, delta=8.5
    )
    assert e["aave_v3:aToken:aweETH"].delta == 17.0
    assert e["aave_v3:debtToken:debtWETH"] == Exposure(
        quantity=12.0, asset="ETH", value_usd=-24576.0, value_share=-24576.0, delta=-12.0
    )
    assert e["wallet:BaseToken:ETH"].delta == -0.5 and e["wallet:BaseToken:ETH"].value_usd == -1024.0
    assert v.net_delta == {"BTC": 0.0, "ETH": 8.5 + 17.0 - 12.0 - 0.5}
    # perp legs: contracts × mark + notional is the unrealised PnL of a short opened at 64,000
    assert (
        e["binance:Perp:BTCUSDT"].value_usd + e["binance:PerpNotional:BTCUSDT"].value_usd == 64000.0 - 64016.0
    )
    total = 0.0
    for k in sorted(POSITIONS):
        total += e[k].value_usd
    assert v.total_usd == total == v.total_share


def test_values_in_eth_share_class() -> None:
    v = value_book(POSITIONS, prices_at(), "ETH")
    e = v.exposures
    assert e["binance:BaseToken:USDT"].value_share == 1000.0 / 2048.0
    assert e["binance:BaseToken:BTC"].value_share == 31.25
    assert e["wallet:BaseToken:weETH"].value_share == 8.5
    assert e["aave_v3:debtToken:debtWETH"].value_share == -12.0
    assert e["wallet:BaseToken:ETH"].value_share == -0.5
    assert v.total_share == v.total_usd / 2048.0  # all values are short binary fractions here


def test_clock_revalues_only_when_a_used_price_moves() -> None:
    prices = prices_at()
    exposures = Exposures(prices, "USDT")
    assert exposures.on_clock(H) is None  # nothing held
    first = exposures.on_positions({"binance:BaseToken:BTC": 1.0})
    assert first.total_usd == 64000.0
    assert exposures.on_clock(H) is None  # no price changed
    prices.apply(bar(2 * H, "bybit", "ETHUSDT", "spot", 2100.0))  # a price the book does not use
    assert exposures.on_clock(2 * H) is None
    prices.apply(bar(2 * H, "binance", "BTCUSDT", "spot", 65000.0))
    moved = exposures.on_clock(2 * H)
    assert moved is not None and moved.total_usd == 65000.0
    assert exposures.on_clock(2 * H) is None


def test_eth_share_class_revalues_usdt_when_eth_moves() -> None:
    prices = prices_at()
    exposures = Exposures(prices, "ETH")
    exposures.on_positions({"binance:BaseToken:USDT": 4096.0})
    prices.apply(bar(2 * H, "bybit", "ETHUSDT", "spot", 4096.0))
    moved = exposures.on_clock(2 * H)
    assert moved is not None and moved.total_share == 1.0


def test_failed_valuation_is_retried_on_the_next_tick() -> None:
    prices = PriceBook()
    exposures = Exposures(prices, "USDT")
    with pytest.raises(MissingPrice):
        exposures.on_positions({"binance:BaseToken:BTC": 2.0})
    prices.apply(bar(H, "binance", "BTCUSDT", "spot", 100.0))
    retried = exposures.on_clock(H)
    assert retried is not None and retried.total_usd == 200.0


def test_clock_revaluation_follows_lst_rates_in_deltas() -> None:
    prices = prices_at()
    exposures = Exposures(prices, "USDT")
    assert exposures.on_positions({"wallet:BaseToken:weETH": 2.0}).net_delta == {"ETH": 2.125}
    prices.apply(lst(2 * H, "weETH", 1.25))
    moved = exposures.on_clock(2 * H)
    assert moved is not None and moved.net_delta == {"ETH": 2.5}
    assert moved.exposures["wallet:BaseToken:weETH"].delta == 2.5


def test_clock_revaluation_sees_a_token_become_an_lst() -> None:
    prices = PriceBook(aliases={"WETH": "ETH", "ezETH": "ETH"})
    for message in market(H, 64000.0, 64016.0, 2048.0):
        prices.apply(message)
    exposures = Exposures(prices, "USDT")
    first = exposures.on_positions({"wallet:BaseToken:ezETH": 2.0, "binance:BaseToken:BTC": 1.0})
    assert first.net_delta == {"BTC": 1.0, "ETH": 2.0}
    prices.apply(bar(2 * H, "binance", "BTCUSDT", "spot", 65000.0))
    assert exposures.on_clock(2 * H) is not None  # the holdings of the first valuation are reused
    prices.apply(lst(3 * H, "ezETH", 1.5))  # ezETH now counts at its rate
    moved = exposures.on_clock(3 * H)
    assert moved is not None and moved.net_delta == {"BTC": 1.0, "ETH": 3.0}
    assert moved.exposures["wallet:BaseToken:ezETH"].value_usd == 2.0 * 1.5 * 2048.0
