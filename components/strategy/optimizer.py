"""Rebalancing optimizer: whether a transfer pays for itself within a horizon. Pure values, no I/O.

The book's yield is compared before and after the transfer, in USD per year (staking, lending and funding
income less borrowing costs, as the caller sums them), against the transfer's one-off cost in USD (a
:class:`~basis.components.strategy.transfers.TransferPlan`'s ``cost.total_usd``). With a horizon of ``h``
days and a margin ``m``::

    gain over the horizon = (yield after − yield before) × h / 365

* **EXECUTE** when the transfer is required for safety (``required_by`` names the risk, e.g. a margin
  ratio under its critical threshold), whatever the cost; otherwise when gain > cost × m;
* **DEFER** when cost > gain: the transfer does not pay for itself within the horizon (a transfer that
  lowers the yield never does);
* **NEUTRAL** otherwise: it pays for itself, without the margin (cost ≤ gain ≤ cost × m).

Break-even: ``cost / ((yield after − yield before) / 365)`` days when the yield grows, else none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

DAYS_PER_YEAR = 365.0

Answer = Literal["EXECUTE", "NEUTRAL", "DEFER"]


@dataclass(frozen=True)
class Verdict:
    """The optimizer's answer, why (``reasons``, each with its numbers), and everything it was taken on."""

    answer: Answer
    reasons: tuple[str, ...]
    yield_before_usd: float
    """The book's yield per year without the transfer, USD."""
    yield_after_usd: float
    """The book's yield per year once the transfer is done, USD."""
    cost_usd: float
    horizon_days: float
    margin: float
    gain_usd: float
    """Yield gained over the horizon (negative when the transfer lowers the yield)."""
    break_even_days: float | None
    """Days for the yield gained to pay the cost; None when the yield does not grow."""
    required_by: str = ""
    """The risk that requires the transfer whatever the cost; "" when it is discretionary."""

    def to_event_fields(self) -> dict[str, str | float | tuple[str, ...] | None]:
        """The verdict as primitives, named as the fields of an event that records it."""
        return {
            "answer": self.answer,
            "reasons": self.reasons,
            "yield_before_usd": self.yield_before_usd,
            "yield_after_usd": self.yield_after_usd,
            "cost_usd": self.cost_usd,
            "horizon_days": self.horizon_days,
            "margin": self.margin,
            "gain_usd": self.gain_usd,
            "break_even_days": self.break_even_days,
            "required_by": self.required_by,
        }


@dataclass(frozen=True)
class RebalanceOptimizer:
    """Answers EXECUTE, NEUTRAL or DEFER for a transfer (see the module docstring for the rule)."""

    horizon_days: float = 30.0
    margin: float = 1.5
    """EXECUTE needs the gain over the horizon above the cost times this."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.horizon_days) and self.horizon_days > 0.0):
            raise ValueError(f"horizon_days must be finite and > 0, got {self.horizon_days!r}")
        if not (math.isfinite(self.margin) and self.margin >= 1.0):
            raise ValueError(f"margin must be finite and >= 1, got {self.margin!r}")

    def assess(
        self, yield_before_usd: float, yield_after_usd: float, cost_usd: float, *, required_by: str = ""
    ) -> Verdict:
        """The verdict on a transfer that moves the book's yield per year from ``yield_before_usd`` to
        ``yield_after_usd`` for a one-off ``cost_usd``; ``required_by`` names the risk that requires it."""
        for name, value in (("yield_before_usd", yield_before_usd), ("yield_after_usd", yield_after_usd)):
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if not (math.isfinite(cost_usd) and cost_usd >= 0.0):
            raise ValueError(f"cost_usd must be finite and >= 0, got {cost_usd!r}")
        h, m = self.horizon_days, self.margin
        per_day = (yield_after_usd - yield_before_usd) / DAYS_PER_YEAR
        gain = per_day * h
        break_even = cost_usd / per_day if per_day > 0.0 else None
        change = (
            f"yield {yield_before_usd:.2f} → {yield_after_usd:.2f} USD a year: "
            f"{gain:+.2f} USD over {h:g} days against a cost of {cost_usd:.2f} USD"
        )
        horizon = f"gain over {h:g} days {gain:.2f} USD"
        answer: Answer
        if required_by:
            answer, why = "EXECUTE", f"required by {required_by}: executed whatever the cost"
        elif gain > cost_usd * m:
            answer, why = "EXECUTE", f"{horizon} above {m:g} × the cost ({cost_usd * m:.2f} USD)"
        elif cost_usd > gain:
            answer, why = "DEFER", f"cost {cost_usd:.2f} USD above the {horizon}"
        else:
            answer = "NEUTRAL"
            why = f"{horizon} covers the cost but not {m:g} × the cost ({cost_usd * m:.2f} USD)"
        reasons = [why, change]
        if break_even is not None:
            reasons.append(f"breaks even after {break_even:.1f} days")
        else:
            reasons.append("never breaks even: the yield does not grow")
        return Verdict(
            answer=answer,
            reasons=tuple(reasons),
            yield_before_usd=yield_before_usd,
            yield_after_usd=yield_after_usd,
            cost_usd=cost_usd,
            horizon_days=h,
            margin=m,
            gain_usd=gain,
            break_even_days=break_even,
            required_by=required_by,
        )


def verdict_fields(verdict: Verdict) -> dict[str, Any]:
    """The fields of a ``RebalanceAssessed`` event that records ``verdict`` (all but its proposal)."""
    return {
        "answer": verdict.answer,
        "reasons": verdict.reasons,
        "yield_before_usd": verdict.yield_before_usd,
        "yield_after_usd": verdict.yield_after_usd,
        "cost_usd": verdict.cost_usd,
        "horizon_days": verdict.horizon_days,
        "margin": verdict.margin,
        "gain_usd": verdict.gain_usd,
        "break_even_days": verdict.break_even_days,
        "required_by": verdict.required_by,
    }
