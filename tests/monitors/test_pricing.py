"""PriceBook: unit values per instrument key, reference series, proxies, staleness."""

from __future__ import annotations

import pytest

from basis.bus.messages import OraclePrice, ReserveState
from basis.components.pricing import MissingPrice, PriceBook, StalePrice, perp_base

from .scenario import H, bar, lst, market

DAY = 24 * H


def book(**kwargs: object) -> PriceBook:
    prices = PriceBook(**kwargs)  # type: ignore[arg-type]
    for message in market(H, 60000.0, 60010.0, 3000.0):
        prices.apply(message)
    return prices


def test_unit_values_per_key() -> None:
    prices = book()
    prices.apply(lst(H, "weETH", 1.0625))
    expected = {
        "binance:BaseToken:USDT": 1.0,
        "wallet:BaseToken:USDT": 1.0,
        "binance:PerpNotional:BTCUSDT": 1.0,
        "binance:BaseToken:BTC": 60000.0,
        "wallet:BaseToken:ETH": 3000.0,
        "wallet:BaseToken:WETH": 3000.0,
        "wallet:BaseToken:weETH": 1.0625 * 3000.0,
        "binance:Perp:BTCUSDT": 60010.0,
        "aave_v3:aToken:aUSDT": 1.0,
        "aave_v3:aToken:aWETH": 3000.0,
        "aave_v3:aToken:aweETH": 1.0625 * 3000.0,
        "aave_v3:debtToken:debtWETH": -3000.0,
        "aave_v3:debtToken:debtUSDT": -1.0,
    }
    assert {k: prices.unit_value_usd(k) for k in expected} == expected


def test_reference_series_are_configurable() -> None:
    prices = book()
    assert prices.asset_price("ETH") == 3000.0  # Bybit ETHUSDT spot, not a Binance ETH series
    prices.apply(bar(H, "binance", "ETHUSDT", "spot", 2999.0))
    assert prices.asset_price("ETH") == 3000.0
    other = book(references={"BTC": ("bybit", "BTCUSDT", "spot"), "ETH": ("aave_v3", "WETH", "oracle")})
    other.apply(bar(H, "bybit", "BTCUSDT", "spot", 60001.0))
    other.apply(OraclePrice(id="o", ts=H, venue="aave_v3", asset="WETH", quote="USD", price=3001.0))
    assert other.unit_value_usd("binance:BaseToken:BTC") == 60001.0
    assert other.unit_value_usd("wallet:BaseToken:WETH") == 3001.0
    reserve = book(references={"ETH": ("aave_v3", "WETH", "reserve")})
    reserve.apply(
        ReserveState(
            id="r",
            ts=H,
            venue="aave_v3",
            asset="WETH",
            liquidity_index=1.0,
            variable_borrow_index=1.0,
            liquidity_rate=0.0,
            variable_borrow_rate=0.0,
            price_usd=3002.0,
        )
    )
    assert reserve.unit_value_usd("aave_v3:debtToken:debtWETH") == -3002.0


def test_reference_quoted_in_another_asset() -> None:
    prices = book(
        references={
            "BTC": ("binance", "BTCUSDT", "spot"),
            "ETH": ("bybit", "ETHUSDT", "spot"),
            "EIGEN": ("uniswap_v3", "EIGENWETH", "dex", "ETH"),
        }
    )
    prices.apply(bar(H, "uniswap_v3", "EIGENWETH", "dex", 0.001))
    assert prices.unit_value_usd("wallet:BaseToken:EIGEN") == 0.001 * 3000.0


def test_perp_mark_own_series_or_proxy() -> None:
    prices = book(perp_marks={"okx:Perp:BTCUSDT": ("bybit", "BTCUSDT", "perp")})
    prices.apply(bar(H, "bybit", "BTCUSDT", "perp", 60020.0))
    assert prices.unit_value_usd("binance:Perp:BTCUSDT") == 60010.0
    assert prices.unit_value_usd("bybit:Perp:BTCUSDT") == 60020.0
    assert prices.unit_value_usd("okx:Perp:BTCUSDT") == 60020.0
    with pytest.raises(MissingPrice) as err:
        prices.unit_value_usd("okx:Perp:ETHUSDT")
    assert err.value.key == "okx:Perp:ETHUSDT" and err.value.series == "bar:okx:ETHUSDT:perp"


def test_share_price_and_share_units() -> None:
    prices = book()
    assert prices.share_price("USDT") == 1.0
    assert prices.share_price("ETH") == 3000.0
    assert prices.share_price("BTC") == 60000.0
    assert prices.unit_value("wallet:BaseToken:ETH", "ETH") == 1.0
    assert prices.unit_value("binance:BaseToken:USDT", "ETH") == 1.0 / 3000.0
    assert prices.unit_value("binance:BaseToken:BTC", "ETH") == 60000.0 / 3000.0


def test_missing_price_names_key_and_series() -> None:
    prices = PriceBook()
    with pytest.raises(MissingPrice) as err:
        prices.unit_value_usd("binance:BaseToken:BTC")
    assert err.value.key == "binance:BaseToken:BTC"
    assert err.value.series == "bar:binance:BTCUSDT:spot"
    assert "binance:BaseToken:BTC" in str(err.value) and "bar:binance:BTCUSDT:spot" in str(err.value)
    with pytest.raises(MissingPrice, match="weETH"):
        book().unit_value_usd("wallet:BaseToken:weETH")
    with pytest.raises(MissingPrice, match="no reference series for DOGE"):
        book().unit_value_usd("binance:BaseToken:DOGE")


def test_hourly_series_span_a_23_hour_hole_but_go_stale_after_48h() -> None:
    prices = book()
    prices.advance(H + 48 * H)
    assert prices.unit_value_usd("binance:BaseToken:BTC") == 60000.0
    prices.advance(H + 48 * H + 1)
    with pytest.raises(StalePrice) as err:
        prices.unit_value_usd("binance:BaseToken:BTC")
    assert err.value.key == "binance:BaseToken:BTC"
    assert err.value.series == "bar:binance:BTCUSDT:spot"
    assert "binance:BaseToken:BTC" in str(err.value) and "bar:binance:BTCUSDT:spot" in str(err.value)
    assert prices.unit_value_usd("binance:BaseToken:USDT") == 1.0


def test_daily_series_go_stale_after_72h() -> None:
    prices = book()
    prices.apply(lst(H, "weETH", 1.0625))
    prices.apply(bar(H + 71 * H, "bybit", "ETHUSDT", "spot", 3000.0))
    assert prices.unit_value_usd("wallet:BaseToken:weETH") == 1.0625 * 3000.0
    prices.apply(bar(H + 72 * H + 1, "bybit", "ETHUSDT", "spot", 3000.0))
    with pytest.raises(StalePrice, match="lst:etherfi:weETH"):
        prices.unit_value_usd("wallet:BaseToken:weETH")
    daily = PriceBook()
    daily.apply(bar(DAY, "binance", "BTCUSDT", "spot", 1.0, interval_s=86_400))
    daily.advance(DAY + 72 * H)
    assert daily.unit_value_usd("binance:BaseToken:BTC") == 1.0
    daily.advance(DAY + 72 * H + 1)
    with pytest.raises(StalePrice):
        daily.unit_value_usd("binance:BaseToken:BTC")


def test_max_age_is_configurable() -> None:
    prices = book(max_age_s={3600: 2 * 3600})
    prices.advance(3 * H)
    assert prices.unit_value_usd("binance:BaseToken:BTC") == 60000.0
    prices.advance(3 * H + 1)
    with pytest.raises(StalePrice):
        prices.unit_value_usd("binance:BaseToken:BTC")


def test_lst_venue_filter_and_version() -> None:
    prices = book(lst_venues={"weETH": "aave_v3"})
    version = prices.version
    prices.apply(lst(H, "weETH", 1.5, venue="etherfi"))
    with pytest.raises(MissingPrice, match="lst:aave_v3:weETH"):
        prices.lst_rate("weETH")
    prices.apply(lst(H, "weETH", 1.0625, venue="aave_v3"))
    assert prices.lst_rate("weETH") == 1.0625
    assert prices.version == version + 2
    assert not prices.apply(lst(2 * H, "weETH", 1.0625, venue="aave_v3"))  # same value: no new version
    assert prices.version == version + 2


def test_perp_base() -> None:
    assert perp_base("BTCUSDT") == "BTC"
    assert perp_base("ETH-USDT-SWAP") == "ETH-USDT-SWAP"  # a venue's own spelling is not the platform's
    assert perp_base("ETHUSDC") == "ETH"


def test_the_lst_rate_in_use_is_the_latest_of_any_venue() -> None:
    prices = book()
    prices.apply(lst(H, "weETH", 1.0625, venue="etherfi"))
    prices.apply(lst(H, "weETH", 1.125, venue="aave_v3"))
    assert prices.lst_rate("weETH") == 1.125
    version = prices.version
    assert prices.apply(lst(2 * H, "weETH", 1.0625, venue="etherfi"))  # same series value, new rate in use
    assert prices.version == version + 1 and prices.lst_rate("weETH") == 1.0625
