"""Run metrics keep one sample per day, in compact columns, and rebuild them for the report."""

from __future__ import annotations

from basis.backtest.metrics import NS_PER_DAY, DailySample, RunMetrics

H = NS_PER_DAY // 24


def test_last_sample_of_each_day_and_the_starting_point() -> None:
    metrics = RunMetrics()
    feed = [
        (0, 100.0, 100.0, {"funding": 0.0}, {}),
        (H, 101.0, 100.0, {"funding": 1.0}, {"delta_drift": 0.01}),
        (25 * H, 103.0, 100.0, {"funding": 3.0}, {"delta_drift": 0.02, "margin_ratio:binance": 0.4}),
        (26 * H, 102.0, 110.0, {"funding": 2.0}, {"delta_drift": 0.03}),
    ]
    for ts, equity, flows, attribution, risk in feed:
        metrics.observe(ts, equity, flows, attribution, risk)
    metrics.finish()
    metrics.finish()  # idempotent
    assert metrics.samples == [
        DailySample(0, 100.0, 100.0, {"funding": 0.0}, {}),
        DailySample(H, 101.0, 100.0, {"funding": 1.0}, {"delta_drift": 0.01}),
        DailySample(26 * H, 102.0, 110.0, {"funding": 2.0}, {"delta_drift": 0.03}),
    ]
    day1 = (101.0 - 100.0) / 100.0
    day2 = (102.0 - 10.0 - 101.0) / 101.0
    growth = (1 + day1) * (1 + day2)
    assert metrics.max_drawdown == 1.0 - growth / (1 + day1)
    assert metrics.days == 26 / 24


def test_a_single_snapshot() -> None:
    metrics = RunMetrics()
    metrics.observe(5, 1.0, 1.0, {}, {})
    metrics.finish()
    assert metrics.samples == [DailySample(5, 1.0, 1.0, {}, {})]
    assert (metrics.days, metrics.apy, metrics.sharpe) == (0.0, 0.0, 0.0)
