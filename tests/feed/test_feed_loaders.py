"""Each loader on the real bundled files: row counts, message fields and times, constant memory."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from feedutil import ROOT, readme_rows

from basis.bus.ids import SequentialIds
from basis.bus.messages import (
    Bar,
    FundingRate,
    GasPrice,
    LstRate,
    OraclePrice,
    ReserveState,
    RewardDistribution,
)
from basis.components.feed import SeriesReader, discover, parse_utc
from basis.components.feed.times import NS

CATALOGUE = discover([ROOT])
H = 3600 * NS


def read(name: str, **window: int) -> list:  # type: ignore[type-arg]
    return list(SeriesReader(CATALOGUE.get(name), [ROOT], SequentialIds("t", "feed"), **window))


@pytest.mark.parametrize("spec", list(CATALOGUE), ids=lambda s: s.name)
def test_row_counts_match_the_readme_table(spec) -> None:  # type: ignore[no-untyped-def]
    reader = SeriesReader(spec, [ROOT], SequentialIds("t", "feed"))
    assert sum(1 for _ in reader) == readme_rows()[spec.path]
    assert reader.stats.duplicates == 0
    assert reader.stats.messages == readme_rows()[spec.path]


def test_quoted_counts() -> None:
    assert len(read("bar:binance:BTCUSDT:perp")) == 12829
    assert len(read("bar:bybit:BTCUSDT:perp")) == 13128
    assert len(read("funding:okx:BTCUSDT")) == 1146


def test_bar_is_published_at_its_close() -> None:
    first = read("bar:binance:BTCUSDT:perp", end=parse_utc("2024-01-01T02:00:00Z") + 1)
    assert len(first) == 2
    bar = first[0]
    assert isinstance(bar, Bar)
    assert bar.open_ts == parse_utc("2024-01-01T00:00:00Z")
    assert bar.ts == bar.open_ts + H
    assert (bar.venue, bar.symbol, bar.market, bar.interval_s) == ("binance", "BTCUSDT", "perp", 3600)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        42314.0,
        42603.2,
        42289.6,
        42503.5,
        8459.477,
    )
    assert first[1].ts == parse_utc("2024-01-01T02:00:00Z")
    last = read("bar:bybit:ETHUSDT:spot", start=parse_utc("2025-07-01T00:00:00Z"))
    assert [b.ts for b in last] == [parse_utc("2025-07-01T00:00:00Z")]  # the 23:00 candle closes at midnight
    dex = read("bar:uniswap_v3:EIGENWETH:dex", end=parse_utc("2024-10-05T01:00:00Z") + 1)
    assert [(b.market, b.symbol, b.close) for b in dex] == [("dex", "EIGENWETH", 0.0014866213275239)]


def test_funding_at_settlement_time() -> None:
    rates = read("funding:binance:BTCUSDT", end=parse_utc("2024-01-01T08:00:00Z") + 1)
    assert [(r.ts, r.rate) for r in rates] == [
        (parse_utc("2024-01-01T00:00:00Z"), 0.00037409),
        (parse_utc("2024-01-01T08:00:00Z"), 0.00027213),
    ]
    assert all(isinstance(r, FundingRate) and r.interval_hours == 8 and r.venue == "binance" for r in rates)
    assert read("funding:okx:ETHUSDT")[0].ts == parse_utc("2024-05-01T00:00:00Z")


def test_reserve_oracle_and_lst_rates() -> None:
    reserve = read("reserve:aave_v3:USDT")[0]
    assert isinstance(reserve, ReserveState)
    assert reserve.ts == parse_utc("2024-01-01T00:00:00Z")
    assert (reserve.venue, reserve.asset) == ("aave_v3", "USDT")
    assert reserve.liquidity_index == 1.0361969326346498
    assert reserve.variable_borrow_index == 1.0494393004973817
    assert reserve.liquidity_rate == 0.0816242174451201
    assert reserve.variable_borrow_rate == 0.1000292479981481
    assert reserve.price_usd == 0.99965
    assert read("reserve:aave_v3:wstETH")[0].asset == "wstETH"
    oracle = read("oracle:aave_v3:WETH")[1]
    assert isinstance(oracle, OraclePrice)
    assert (oracle.asset, oracle.quote, oracle.price, oracle.ts) == (
        "WETH",
        "USD",
        2350.6,
        parse_utc("2024-01-02T00:00:00Z"),
    )
    weeth, wsteth = read("lst:etherfi:weETH")[0], read("lst:lido:wstETH")[0]
    assert isinstance(weeth, LstRate) and isinstance(wsteth, LstRate)
    assert (weeth.venue, weeth.token, weeth.rate) == ("etherfi", "weETH", 1.0381622777538226)
    assert (wsteth.venue, wsteth.token, wsteth.rate) == ("lido", "wstETH", 1.1663015694449343)
    assert weeth.ts == parse_utc("2024-05-12T00:00:00Z")


def test_gas_uses_the_block_time() -> None:
    gas = read("gas:ethereum:gwei")[:2]
    assert all(isinstance(g, GasPrice) for g in gas)
    assert gas[0].ts == 1704067139 * NS  # block_timestamp, not the nominal 2024-01-01T00:00
    assert (gas[0].chain, gas[0].base_fee_gwei, gas[0].priority_fee_gwei) == ("ethereum", 11.97, 0.1)
    assert gas[1].price_gwei == pytest.approx(12.06 + 0.33)


def test_rewards_per_staked_token() -> None:
    eigen = read("reward:etherfi:EIGEN")
    ethfi = read("reward:etherfi:ETHFI")
    assert all(isinstance(r, RewardDistribution) for r in eigen + ethfi)
    assert (eigen[0].token, eigen[0].reward_token, eigen[0].amount_per_unit) == ("eETH", "EIGEN", 0.205)
    assert eigen[0].ts == parse_utc("2024-10-05T00:00:00Z")
    assert (ethfi[0].reward_token, ethfi[0].amount_per_unit, ethfi[0].ts) == (
        "ETHFI",
        0.248,
        parse_utc("2024-10-18T00:00:00Z"),
    )


def test_ids_are_deterministic() -> None:
    one = [m.id for m in read("funding:bybit:BTCUSDT")]
    two = [m.id for m in read("funding:bybit:BTCUSDT")]
    assert one == two
    assert one[:2] == ["t.feed.1", "t.feed.2"]
    assert len(set(one)) == len(one)


def test_window_filter_in_the_reader() -> None:
    start, end = parse_utc("2024-03-01T00:00:00Z"), parse_utc("2024-03-02T00:00:00Z")
    reader = SeriesReader(
        CATALOGUE.get("bar:bybit:BTCUSDT:perp"), [ROOT], SequentialIds("t", "feed"), start=start, end=end
    )
    bars = list(reader)
    assert [b.ts for b in bars] == [start + i * H for i in range(24)]
    assert bars[0].id == "t.feed.1"  # rows before the window build no message and take no id
    assert reader.stats.before_start > 0


def test_streaming_a_file_keeps_memory_flat() -> None:
    spec = CATALOGUE.get("bar:bybit:BTCUSDT:perp")
    gc.collect()
    tracemalloc.start()
    try:
        count = 0
        last = 0
        for message in SeriesReader(spec, [ROOT], SequentialIds("t", "feed")):
            count += 1
            last = message.ts
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 13128 and last == parse_utc("2025-07-01T00:00:00Z")
    assert peak < 1_000_000, f"peak {peak} bytes while streaming 13128 bars"
