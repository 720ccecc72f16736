"""Run metrics computed while the run streams: one sample per UTC day, constant memory per day.

Returns are time-weighted, so investor flows do not count as performance: the return of a day is
``(equity_end - flows_in_day - equity_start) / equity_start``, where ``equity_start`` is the equity of the
previous kept sample (the last snapshot of the day before, or the starting point). ``r_1 .. r_n`` below
are these daily returns, in time order; "annualised" uses 365 days a year.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime

NS_PER_DAY = 86_400 * 1_000_000_000
DAYS_PER_YEAR = 365.0


@dataclass(slots=True)
class DailySample:
    ts: int
    equity: float
    net_flows: float
    attribution: dict[str, float]
    risk: dict[str, float]


class RunMetrics:
    """Feed it every PnL snapshot (and the latest risk figures); read the summary at the end.

    The daily samples are kept as columns of machine floats (about 150 bytes a day, whatever the number
    of snapshots), so a run ten times as long needs next to no more memory; :attr:`samples` builds the
    :class:`DailySample` objects when the report asks for them.
    """

    __slots__ = (
        "_attribution",
        "_day",
        "_equity",
        "_flows",
        "_growth",
        "_last",
        "_last_kept",
        "_m2",
        "_mean",
        "_n",
        "_peak",
        "_risk",
        "_shape",
        "_shape_ids",
        "_shapes",
        "_ts",
        "max_drawdown",
    )

    def __init__(self) -> None:
        self._ts = array("q")
        self._equity = array("d")
        self._flows = array("d")
        self._attribution = array("d")
        self._risk = array("d")
        self._shape = array("I")
        """Per kept sample: the index in ``_shapes`` of its (attribution keys, risk keys)."""
        self._shapes: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        self._shape_ids: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
        self._day = -1
        self._last: tuple[int, float, float, dict[str, float], dict[str, float]] | None = None
        self._last_kept = False
        """True when ``_last`` is the sample kept last (the starting point)."""
        self._growth = 1.0
        self._peak = 1.0
        self.max_drawdown = 0.0
        self._n = 0
        self._mean = 0.0
        self._m2 = 0.0

    def observe(
        self, ts: int, equity: float, net_flows: float, attribution: dict[str, float], risk: dict[str, float]
    ) -> None:
        """One snapshot. ``attribution`` and ``risk`` are read, not copied, when the day closes: pass
        mappings that are not changed afterwards."""
        sample = (ts, equity, net_flows, attribution, risk)
        day = ts // NS_PER_DAY
        if self._last is None:
            self._keep(sample)  # the starting point
            self._last_kept = True
        elif day != self._day:
            self._close_day(self._last)  # the last sample of the previous day ends that day
            self._last_kept = False
        else:
            self._last_kept = False
        self._day = day
        self._last = sample

    def _keep(self, sample: tuple[int, float, float, dict[str, float], dict[str, float]]) -> None:
        ts, equity, net_flows, attribution, risk = sample
        shape = (tuple(attribution), tuple(risk))
        index = self._shape_ids.get(shape)
        if index is None:
            index = self._shape_ids[shape] = len(self._shapes)
            self._shapes.append(shape)
        self._ts.append(ts)
        self._equity.append(equity)
        self._flows.append(net_flows)
        self._attribution.extend(attribution.values())
        self._risk.extend(risk.values())
        self._shape.append(index)

    def _close_day(self, sample: tuple[int, float, float, dict[str, float], dict[str, float]]) -> None:
        if self._last_kept and sample is self._last:
            return
        _, equity, net_flows, _, _ = sample
        previous_equity, previous_flows = self._equity[-1], self._flows[-1]
        if previous_equity > 0:
            r = (equity - (net_flows - previous_flows) - previous_equity) / previous_equity
            self._growth *= 1.0 + r
            self._peak = max(self._peak, self._growth)
            self.max_drawdown = max(self.max_drawdown, 1.0 - self._growth / self._peak)
            self._n += 1
            delta = r - self._mean
            self._mean += delta / self._n
            self._m2 += delta * (r - self._mean)
        self._keep(sample)

    def finish(self) -> None:
        if self._last is not None:
            self._close_day(self._last)
            self._last_kept = True

    @property
    def samples(self) -> list[DailySample]:
        """The kept samples: the starting point, then the last sample of every day."""
        out: list[DailySample] = []
        a = r = 0
        for i, index in enumerate(self._shape):
            attribution_keys, risk_keys = self._shapes[index]
            attribution = dict(
                zip(attribution_keys, self._attribution[a : a + len(attribution_keys)], strict=True)
            )
            risk = dict(zip(risk_keys, self._risk[r : r + len(risk_keys)], strict=True))
            a += len(attribution_keys)
            r += len(risk_keys)
            out.append(DailySample(self._ts[i], self._equity[i], self._flows[i], attribution, risk))
        return out

    @property
    def days(self) -> float:
        if len(self._ts) < 2:
            return 0.0
        return (self._ts[-1] - self._ts[0]) / NS_PER_DAY

    @property
    def apy(self) -> float:
        """Time-weighted growth, annualised (compounded)."""
        if self.days <= 0:
            return 0.0
        growth: float = self._growth ** (DAYS_PER_YEAR / self.days)
        return growth - 1.0

    @property
    def sharpe(self) -> float:
        """Mean over standard deviation of daily returns, annualised with √365; 0 when flat."""
        if self._n < 2:
            return 0.0
        std = math.sqrt(self._m2 / (self._n - 1))
        return 0.0 if std == 0 else self._mean / std * math.sqrt(DAYS_PER_YEAR)

    @property
    def mean_equity(self) -> float:
        """Mean equity over the kept samples (the starting point and the end of every day)."""
        return sum(self._equity) / len(self._equity) if self._equity else 0.0

    def daily_returns(self) -> list[tuple[int, float]]:
        """``(time of the day's last snapshot, r)`` for every day after the starting point; a day that
        opens with no positive equity has no return (as in :attr:`sharpe` and :attr:`max_drawdown`)."""
        out: list[tuple[int, float]] = []
        ts, equity, flows = self._ts, self._equity, self._flows
        for i in range(1, len(ts)):
            previous = equity[i - 1]
            if previous > 0:
                out.append((ts[i], (equity[i] - (flows[i] - flows[i - 1]) - previous) / previous))
        return out

    @property
    def volatility(self) -> float:
        """Standard deviation of the daily returns (n − 1 in the denominator) × √365; 0 with fewer than
        two returns."""
        returns = [r for _, r in self.daily_returns()]
        if len(returns) < 2:
            return 0.0
        mean = sum(returns) / len(returns)
        return math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1) * DAYS_PER_YEAR)

    @property
    def sortino(self) -> float | None:
        """Mean daily return over the downside deviation, × √365. The downside deviation is
        √(Σ min(r_i, 0)² / n) (target return 0, every day in the count). None (undefined) when no day
        lost money."""
        returns = [r for _, r in self.daily_returns()]
        if not returns:
            return None
        downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
        if downside == 0:
            return None
        return sum(returns) / len(returns) / downside * math.sqrt(DAYS_PER_YEAR)

    @property
    def calmar(self) -> float | None:
        """:attr:`apy` over :attr:`max_drawdown`; None (undefined) when there was no drawdown."""
        if self.max_drawdown == 0:
            return None
        return self.apy / self.max_drawdown

    def monthly_returns(self) -> dict[str, float]:
        """``YYYY-MM`` (UTC) → Π (1 + r_i) − 1 over the days whose last snapshot falls in that month, in
        time order; a month with no such day is absent."""
        growth: dict[str, float] = {}
        for ts, r in self.daily_returns():
            month = datetime.fromtimestamp(ts // 1_000_000_000, tz=UTC).strftime("%Y-%m")
            growth[month] = growth.get(month, 1.0) * (1.0 + r)
        return {month: g - 1.0 for month, g in growth.items()}
