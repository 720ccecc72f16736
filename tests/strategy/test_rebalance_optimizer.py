"""The rebalancing optimizer: each answer with its reasons and numbers, the safety override, the break-even,
and the verdict as event fields.

Over the default 30-day horizon, a yield change of 365 USD a year is worth exactly 30 USD."""

from __future__ import annotations

import dataclasses
import re

import msgspec
import pytest

from basis.components.strategy.optimizer import RebalanceOptimizer, Verdict

approx = pytest.approx
optimizer = RebalanceOptimizer()  # 30 days, margin 1.5


def exactly(message: str) -> str:
    """A pattern that matches ``message`` whole."""
    return f"^{re.escape(message)}$"


def test_execute_when_the_gain_over_the_horizon_beats_the_cost_by_the_margin() -> None:
    """+730 USD a year is 60 USD over 30 days; cost 39 × 1.5 = 58.50 < 60."""
    verdict = optimizer.assess(10_000.0, 10_730.0, 39.0)
    assert verdict.answer == "EXECUTE"
    assert verdict.gain_usd == approx(60.0)
    assert verdict.break_even_days == approx(19.5)  # 39 / 2 USD a day
    assert verdict.reasons == (
        "gain over 30 days 60.00 USD above 1.5 × the cost (58.50 USD)",
        "yield 10000.00 → 10730.00 USD a year: +60.00 USD over 30 days against a cost of 39.00 USD",
        "breaks even after 19.5 days",
    )


def test_neutral_when_the_gain_covers_the_cost_without_the_margin() -> None:
    """60 USD over the horizon against a cost of 41: covered, but 41 × 1.5 = 61.50 > 60."""
    verdict = optimizer.assess(10_000.0, 10_730.0, 41.0)
    assert verdict.answer == "NEUTRAL"
    assert (
        verdict.reasons[0] == "gain over 30 days 60.00 USD covers the cost but not 1.5 × the cost (61.50 USD)"
    )
    at_cost = optimizer.assess(10_000.0, 10_730.0, 60.0)  # gain == cost: pays for itself, no more
    assert at_cost.answer == "NEUTRAL"
    at_margin = optimizer.assess(10_000.0, 10_730.0, 40.0)  # gain == cost × margin: not above it
    assert at_margin.answer == "NEUTRAL"


def test_defer_when_the_cost_exceeds_the_gain_over_the_horizon() -> None:
    verdict = optimizer.assess(10_000.0, 10_730.0, 61.0)
    assert verdict.answer == "DEFER"
    assert verdict.reasons[0] == "cost 61.00 USD above the gain over 30 days 60.00 USD"
    assert verdict.break_even_days == approx(30.5)


def test_defer_a_transfer_that_lowers_the_yield() -> None:
    """The example of the product specification: 11,000 → 10,800 USD a year for a 50 USD transfer."""
    verdict = optimizer.assess(11_000.0, 10_800.0, 50.0)
    assert verdict.answer == "DEFER"
    assert verdict.gain_usd == approx(-200.0 * 30 / 365)
    assert verdict.break_even_days is None
    assert verdict.reasons == (
        "cost 50.00 USD above the gain over 30 days -16.44 USD",
        "yield 11000.00 → 10800.00 USD a year: -16.44 USD over 30 days against a cost of 50.00 USD",
        "never breaks even: the yield does not grow",
    )


def test_a_required_transfer_executes_whatever_the_cost() -> None:
    verdict = optimizer.assess(11_000.0, 10_800.0, 5_000.0, required_by="margin_ratio:bybit<0.2")
    assert verdict.answer == "EXECUTE"
    assert verdict.required_by == "margin_ratio:bybit<0.2"
    assert verdict.reasons[0] == "required by margin_ratio:bybit<0.2: executed whatever the cost"
    assert verdict.reasons[1] == (
        "yield 11000.00 → 10800.00 USD a year: -16.44 USD over 30 days against a cost of 5000.00 USD"
    )
    assert optimizer.assess(11_000.0, 10_800.0, 5_000.0).answer == "DEFER"  # the same, discretionary


def test_horizon_and_margin_are_parameters() -> None:
    """+365 USD a year against a cost of 50: 30 USD over 30 days (DEFER), 90 over 90 days (EXECUTE at
    margin 1.5, NEUTRAL at margin 2)."""
    assert optimizer.assess(0.0, 365.0, 50.0).answer == "DEFER"
    long = RebalanceOptimizer(horizon_days=90.0)
    assert long.assess(0.0, 365.0, 50.0).answer == "EXECUTE"
    assert long.assess(0.0, 365.0, 50.0).horizon_days == 90.0
    strict = RebalanceOptimizer(horizon_days=90.0, margin=2.0)
    verdict = strict.assess(0.0, 365.0, 50.0)
    assert verdict.answer == "NEUTRAL"
    assert (
        verdict.reasons[0] == "gain over 90 days 90.00 USD covers the cost but not 2 × the cost (100.00 USD)"
    )


def test_a_free_transfer_that_raises_the_yield_executes_at_once() -> None:
    verdict = optimizer.assess(1_000.0, 1_365.0, 0.0)
    assert (verdict.answer, verdict.break_even_days) == ("EXECUTE", 0.0)


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match=exactly("horizon_days must be finite and > 0, got 0.0")):
        RebalanceOptimizer(horizon_days=0.0)
    with pytest.raises(ValueError, match=exactly("margin must be finite and >= 1, got 0.5")):
        RebalanceOptimizer(margin=0.5)
    with pytest.raises(ValueError, match=exactly("cost_usd must be finite and >= 0, got -1.0")):
        optimizer.assess(0.0, 1.0, -1.0)
    with pytest.raises(ValueError, match=exactly("yield_after_usd must be finite, got nan")):
        optimizer.assess(0.0, float("nan"), 1.0)


def test_a_verdict_converts_to_event_fields_of_primitives() -> None:
    verdict = optimizer.assess(11_000.0, 10_800.0, 50.0, required_by="health_factor<1.1")
    fields = verdict.to_event_fields()
    assert fields == {
        "answer": "EXECUTE",
        "reasons": verdict.reasons,
        "yield_before_usd": 11_000.0,
        "yield_after_usd": 10_800.0,
        "cost_usd": 50.0,
        "horizon_days": 30.0,
        "margin": 1.5,
        "gain_usd": verdict.gain_usd,
        "break_even_days": None,
        "required_by": "health_factor<1.1",
    }
    assert all(isinstance(v, str | float | tuple | None) for v in fields.values())
    decoded = msgspec.json.decode(msgspec.json.encode(fields))
    assert decoded == {**fields, "reasons": list(verdict.reasons)}
    assert list(fields) == [f.name for f in dataclasses.fields(Verdict)]  # every input, in order
