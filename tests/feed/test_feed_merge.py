"""Merging series: time order, the fixed order of equal times, the window filter, determinism."""

from __future__ import annotations

import random

import pytest
from feedutil import ROOT

from basis.bus.ids import SequentialIds
from basis.bus.messages import InvestorDeposit, Message, ModelSignal
from basis.components.feed import DataError, SeriesReader, Stream, discover, merge, parse_utc
from basis.components.feed.merge import KIND_ORDER

CATALOGUE = discover([ROOT])
NAMES = [
    "funding:bybit:BTCUSDT",
    "bar:bybit:BTCUSDT:perp",
    "lst:lido:wstETH",
    "reserve:aave_v3:weETH",
    "funding:binance:BTCUSDT",
    "oracle:aave_v3:WETH",
    "bar:binance:BTCUSDT:spot",
    "reserve:aave_v3:USDT",
    "lst:etherfi:weETH",
    "bar:binance:BTCUSDT:perp",
    "gas:ethereum:gwei",
    "reward:etherfi:EIGEN",
]


def label(message: Message) -> str:
    parts = [type(message).__name__]
    for field in ("venue", "chain", "model", "asset", "token", "symbol", "reward_token", "market"):
        value = getattr(message, field, None)
        if isinstance(value, str):
            parts.append(value)
    return ":".join(parts)


def streams(names: list[str], ids: SequentialIds, **window: int) -> list[Stream]:
    return [Stream.of_reader(SeriesReader(CATALOGUE.get(n), [ROOT], ids, **window)) for n in names]


def test_kind_order() -> None:
    assert KIND_ORDER == ("reserve", "oracle", "lst", "gas", "bar", "funding", "reward", "signal", "flow")


def test_equal_times_follow_kind_then_venue_then_symbol() -> None:
    t = parse_utc("2024-06-01T00:00:00Z")
    merged = list(merge(streams(NAMES, SequentialIds("t", "feed")), start=t, end=t + 1))
    assert [label(m) for m in merged] == [
        "ReserveState:aave_v3:USDT",
        "ReserveState:aave_v3:weETH",
        "OraclePrice:aave_v3:WETH",
        "LstRate:etherfi:weETH",
        "LstRate:lido:wstETH",
        "Bar:binance:BTCUSDT:perp",
        "Bar:binance:BTCUSDT:spot",
        "Bar:bybit:BTCUSDT:perp",
        "FundingRate:binance:BTCUSDT",
        "FundingRate:bybit:BTCUSDT",
    ]
    assert {m.ts for m in merged} == {t}


def test_rewards_signals_and_flows_come_after_market_data() -> None:
    t = parse_utc("2024-10-05T00:00:00Z")  # first EIGEN distribution
    deposit = InvestorDeposit(id="f1", ts=t, amount=1000.0, asset="USDT")
    signal = ModelSignal(id="s1", ts=t, model="m", symbol="BTCUSDT", direction=1, confidence=0.5, sd_bps=10.0)
    merged = list(
        merge(
            [
                Stream("flow", "fund", "flows", [deposit]),
                Stream("signal", "m", "BTCUSDT", [signal]),
                *streams(NAMES, SequentialIds("t", "feed")),
            ],
            start=t,
            end=t + 1,
        )
    )
    kinds = [label(m).split(":")[0] for m in merged]
    assert kinds[-4:] == ["FundingRate", "RewardDistribution", "ModelSignal", "InvestorDeposit"]
    assert kinds[0] == "ReserveState"


def test_merge_is_time_ordered_and_deterministic() -> None:
    start, end = parse_utc("2024-05-30T00:00:00Z"), parse_utc("2024-06-03T00:00:00Z")
    shuffled = list(NAMES)
    random.Random(3).shuffle(shuffled)
    one = [
        (m.id, label(m), m.ts)
        for m in merge(streams(NAMES, SequentialIds("t", "feed"), start=start, end=end))
    ]
    two = [
        (m.id, label(m), m.ts)
        for m in merge(streams(shuffled, SequentialIds("t", "feed"), start=start, end=end))
    ]
    assert one == two
    assert [ts for _, _, ts in one] == sorted(ts for _, _, ts in one)
    assert len({i for i, _, _ in one}) == len(one)


def test_window_filter_is_start_inclusive_end_exclusive() -> None:
    start, end = parse_utc("2024-06-01T00:00:00Z"), parse_utc("2024-06-02T00:00:00Z")
    ids = SequentialIds("t", "feed")
    raw = [Stream.of_reader(SeriesReader(CATALOGUE.get(n), [ROOT], ids)) for n in NAMES]  # unfiltered readers
    merged = list(merge(raw, start=start, end=end))
    times = [m.ts for m in merged]
    assert min(times) == start and max(times) < end
    assert end - 3600 * 10**9 in times  # the last bar closing inside the window
    assert sum(1 for m in merged if m.ts == start) == 10


def test_a_stream_going_back_in_time_is_an_error() -> None:
    a = InvestorDeposit(id="a", ts=2, amount=1.0, asset="USDT")
    b = InvestorDeposit(id="b", ts=1, amount=1.0, asset="USDT")
    with pytest.raises(DataError, match="goes back in time"):
        list(merge([Stream("flow", "fund", "flows", [a, b])]))
    with pytest.raises(DataError, match="unknown stream kind"):
        list(merge([Stream("weather", "x", "y", [a])]))
