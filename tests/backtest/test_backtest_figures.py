"""The summary's performance figures, each checked by hand on a small series (docs/summary.md)."""

from __future__ import annotations

import math

import pytest

from basis.backtest.activity import activity_of
from basis.backtest.metrics import NS_PER_DAY, RunMetrics
from basis.backtest.summary import cost_to_yield, turnover
from basis.bus.messages import Fill, FlowBooked, InstructionFilled, Settled
from basis.components.feed import parse_utc

H = NS_PER_DAY // 24
START = parse_utc("2024-05-30T00:00:00Z")
EQUITY = [100.0, 102.0, 99.96, 100.9596, 100.9596]
"""The end-of-day equity of four days, no flows: returns +2%, −2%, +1%, 0%."""
RETURNS = [0.02, -0.02, 0.01, 0.0]


def four_days() -> RunMetrics:
    metrics = RunMetrics()
    for day, equity in enumerate(EQUITY):
        metrics.observe(START + day * NS_PER_DAY, equity, 100.0, {}, {})
    metrics.finish()
    return metrics


def test_daily_returns_are_the_time_weighted_ones() -> None:
    returns = [r for _, r in four_days().daily_returns()]
    assert returns == pytest.approx(RETURNS, abs=1e-12)


def test_volatility_is_the_sample_deviation_annualised() -> None:
    mean = sum(RETURNS) / 4  # 0.0025
    deviations = [0.0175, -0.0225, 0.0075, -0.0025]
    assert [r - mean for r in RETURNS] == pytest.approx(deviations)
    by_hand = math.sqrt((0.0175**2 + 0.0225**2 + 0.0075**2 + 0.0025**2) / 3 * 365)
    assert four_days().volatility == pytest.approx(by_hand, rel=1e-9)
    assert by_hand == pytest.approx(0.32628, rel=1e-4)  # √(0.000875 / 3 × 365)


def test_sortino_divides_by_the_downside_deviation_of_every_day() -> None:
    downside = math.sqrt(0.02**2 / 4)  # only the −2% day counts, over all four days: 0.01
    by_hand = 0.0025 / downside * math.sqrt(365)
    assert four_days().sortino == pytest.approx(by_hand, rel=1e-9)
    assert by_hand == pytest.approx(4.7762, rel=1e-4)


def test_sortino_is_undefined_without_a_losing_day() -> None:
    metrics = RunMetrics()
    for day, equity in enumerate([100.0, 101.0, 101.0]):
        metrics.observe(START + day * NS_PER_DAY, equity, 100.0, {}, {})
    metrics.finish()
    assert metrics.sortino is None
    assert metrics.calmar is None  # and no drawdown either


def test_calmar_is_apy_over_max_drawdown() -> None:
    metrics = four_days()
    growth = 1.02 * 0.98 * 1.01
    assert metrics.max_drawdown == pytest.approx(0.02, abs=1e-12)
    assert metrics.apy == pytest.approx(growth ** (365 / 4) - 1, rel=1e-9)
    assert metrics.calmar == pytest.approx((growth ** (365 / 4) - 1) / 0.02, rel=1e-9)


def test_monthly_returns_compound_the_days_that_end_in_each_month() -> None:
    # days end 05-31, 06-01, 06-02, 06-03: May holds +2%, June −2%, +1%, 0%
    assert four_days().monthly_returns() == pytest.approx(
        {"2024-05": 0.02, "2024-06": 0.98 * 1.01 - 1}, abs=1e-12
    )


def test_flows_are_not_returns() -> None:
    metrics = RunMetrics()
    metrics.observe(START, 100.0, 100.0, {}, {})
    metrics.observe(START + NS_PER_DAY, 151.0, 150.0, {}, {})  # +50 deposited, +1 earned
    metrics.finish()
    assert metrics.daily_returns() == [(START + NS_PER_DAY, 0.01)]
    assert metrics.monthly_returns() == pytest.approx({"2024-05": 0.01}, abs=1e-15)


def test_turnover_is_traded_notional_over_mean_equity_per_year() -> None:
    assert turnover(730.0, 100.0, 365.0) == pytest.approx(7.3)
    assert turnover(730.0, 100.0, 73.0) == pytest.approx(36.5)
    assert turnover(None, 100.0, 365.0) is None
    assert four_days().mean_equity == pytest.approx(sum(EQUITY) / 5)


def test_cost_to_yield_is_fees_and_gas_over_gross_yield() -> None:
    attribution = {
        "funding": 80.0,
        "lending_interest": 20.0,
        "trading_fees": -9.0,
        "gas": -1.0,
        "price": 50.0,
    }
    assert cost_to_yield(attribution) == pytest.approx(0.1)
    assert cost_to_yield({"funding": -5.0, "trading_fees": -1.0}) is None


def fill(ts: int, venue: str, *changes: Fill) -> InstructionFilled:
    return InstructionFilled(id=f"f{ts}", ts=ts, instruction_id="i", venue=venue, changes=changes)


def funding(ts: int, venue: str, amount: float) -> Settled:
    return Settled(
        id=f"s{ts}{venue}",
        ts=ts,
        venue=venue,
        instrument=f"{venue}:BaseToken:USDT",
        kind="funding",
        amount=amount,
        asset="USDT",
    )


def test_activity_from_a_small_log() -> None:
    """Deposit at 0 h; buy 1 BTC at 60,000 and short 1 perp at 60,100 at 6 h; close both at 18 h at
    61,000 / 61,050; funding paid at 8 h and 16 h (one outside the window's 24 h is not counted)."""
    start, end = START, START + 24 * H
    log = [
        FlowBooked(
            id="d",
            ts=start,
            kind="deposit",
            amount=100_000.0,
            asset="USDT",
            instrument="wallet:BaseToken:USDT",
        ),
        fill(
            start + 6 * H,
            "binance",
            Fill(instrument="binance:BaseToken:BTC", delta=1.0, price=60_000.0),
            Fill(instrument="binance:BaseToken:USDT", delta=-60_000.0),
        ),
        fill(
            start + 6 * H,
            "bybit",
            Fill(instrument="bybit:Perp:BTCUSDT", delta=-1.0, price=60_100.0),
            Fill(instrument="bybit:PerpNotional:BTCUSDT", delta=60_100.0),
        ),
        funding(start + 8 * H, "bybit", 6.0),
        funding(start + 16 * H, "bybit", 4.0),
        funding(start + 16 * H, "okx", -1.0),
        fill(
            start + 18 * H,
            "binance",
            Fill(instrument="binance:BaseToken:BTC", delta=-1.0, price=61_000.0),
            Fill(instrument="binance:BaseToken:USDT", delta=61_000.0),
        ),
        fill(
            start + 18 * H,
            "bybit",
            Fill(instrument="bybit:Perp:BTCUSDT", delta=1.0, price=61_050.0),
            Fill(instrument="bybit:PerpNotional:BTCUSDT", delta=-60_100.0),
        ),
        funding(end + 8 * H, "bybit", 100.0),
    ]
    activity = activity_of(log, "USDT", (start, end))
    assert activity.funding_by_venue == {"bybit": {"USDT": 10.0}, "okx": {"USDT": -1.0}}
    assert activity.traded_notional == pytest.approx(60_000 + 60_100 + 61_000 + 61_050)
    assert activity.time_in_market == pytest.approx(12 / 24)

    in_btc = activity_of(log, "BTC", (start, end))
    assert in_btc.traded_notional == pytest.approx(4.0)  # every leg's base is the share class: quantities
    assert activity_of(log, "ETH", (start, end)).traded_notional is None


def test_gas_held_in_the_wallet_is_not_a_market_position() -> None:
    log = [fill(START + H, "wallet", Fill(instrument="wallet:BaseToken:ETH", delta=0.5, price=3000.0))]
    activity = activity_of(log, "USDT", (START, START + 2 * H))
    assert activity.time_in_market == 0.0
    assert activity.traded_notional == pytest.approx(1500.0)
