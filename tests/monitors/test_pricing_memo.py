"""PriceBook answers repeated lookups from a memo; the memo never outlives a price change or a clock step."""

from __future__ import annotations

import pytest

from basis.components.pricing import MissingPrice, PriceBook, StalePrice

from .scenario import H, bar, lst

BTC = "binance:BaseToken:BTC"
PERP = "binance:Perp:BTCUSDT"


def fresh() -> PriceBook:
    prices = PriceBook()
    for message in (
        bar(H, "binance", "BTCUSDT", "spot", 60000.0),
        bar(H, "binance", "BTCUSDT", "perp", 60010.0),
        bar(H, "bybit", "ETHUSDT", "spot", 3000.0),
    ):
        prices.apply(message)
    return prices


def test_a_new_close_replaces_the_remembered_value() -> None:
    prices = fresh()
    assert (prices.unit_value_usd(BTC), prices.unit_value_usd(PERP)) == (60000.0, 60010.0)
    assert prices.asset_price("BTC") == 60000.0
    prices.apply(bar(2 * H, "binance", "BTCUSDT", "spot", 61000.0))
    assert prices.unit_value_usd(BTC) == 61000.0 and prices.asset_price("BTC") == 61000.0
    prices.apply(bar(2 * H, "binance", "BTCUSDT", "perp", 61020.0))
    assert prices.unit_value_usd(PERP) == 61020.0
    assert prices.unit_value_usd("aave_v3:debtToken:debtWETH") == -3000.0


def test_staleness_is_judged_at_every_clock_step_even_after_a_remembered_answer() -> None:
    prices = fresh()
    assert prices.unit_value_usd(BTC) == 60000.0
    prices.advance(H + 48 * H)  # exactly the limit: still fresh
    assert prices.unit_value_usd(BTC) == 60000.0
    prices.advance(H + 48 * H + 1)
    with pytest.raises(StalePrice):
        prices.unit_value_usd(BTC)
    with pytest.raises(StalePrice):  # an unusable price is never remembered: it raises each time
        prices.unit_value_usd(BTC)
    assert prices.unit_value_usd("binance:BaseToken:USDT") == 1.0  # the numéraire never goes stale
    assert prices.unit_value_usd("binance:PerpNotional:BTCUSDT") == 1.0


def test_an_lst_rate_update_is_seen_by_the_next_lookup() -> None:
    prices = fresh()
    with pytest.raises(MissingPrice):
        prices.unit_value_usd("wallet:BaseToken:weETH")
    prices.apply(lst(H, "weETH", 1.05))
    assert prices.unit_value_usd("wallet:BaseToken:weETH") == 1.05 * 3000.0
    prices.apply(lst(H, "weETH", 1.06, venue="aave_v3"))  # another venue's series takes over
    assert prices.unit_value_usd("wallet:BaseToken:weETH") == 1.06 * 3000.0


def test_a_bad_key_raises_every_time() -> None:
    prices = fresh()
    for _ in range(2):
        with pytest.raises(ValueError, match="invalid instrument key"):
            prices.unit_value_usd("binance:Nope:BTC")
