"""Run metrics computed while the run streams: one sample per UTC day, constant memory per day.

Returns are time-weighted, so investor flows do not count as performance: the return of a day is
``(equity_end - flows_in_day - equity_start) / equity_start``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

NS_PER_DAY = 86_400 * 1_000_000_000
DAYS_PER_YEAR = 365.0


@dataclass(slots=True)
class DailySample:
    ts: int
    equity: float
    net_flows: float
    attribution: dict[str, float]
    risk: dict[str, float]


@dataclass(slots=True)
class RunMetrics:
    """Feed it every PnL snapshot (and the latest risk figures); read the summary at the end."""

    samples: list[DailySample] = field(default_factory=list)
    _day: int = -1
    _last: DailySample | None = None
    _growth: float = 1.0
    _peak: float = 1.0
    max_drawdown: float = 0.0
    _n: int = 0
    _mean: float = 0.0
    _m2: float = 0.0

    def observe(self, ts: int, equity: float, net_flows: float, attribution: dict[str, float],
                risk: dict[str, float]) -> None:
        sample = DailySample(ts, equity, net_flows, attribution, risk)
        day = ts // NS_PER_DAY
        if self._last is None:
            self.samples.append(sample)  # the starting point
        elif day != self._day:
            self._close_day(self._last)  # the last sample of the previous day ends that day
        self._day = day
        self._last = sample

    def _close_day(self, sample: DailySample) -> None:
        previous = self.samples[-1]
        if sample is previous:
            return
        if previous.equity > 0:
            r = (sample.equity - (sample.net_flows - previous.net_flows) - previous.equity) / previous.equity
            self._growth *= 1.0 + r
            self._peak = max(self._peak, self._growth)
            self.max_drawdown = max(self.max_drawdown, 1.0 - self._growth / self._peak)
            self._n += 1
            delta = r - self._mean
            self._mean += delta / self._n
            self._m2 += delta * (r - self._mean)
        self.samples.append(sample)

    def finish(self) -> None:
        if self._last is not None:
            self._close_day(self._last)

    @property
    def days(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        return (self.samples[-1].ts - self.samples[0].ts) / NS_PER_DAY

    @property
    def apy(self) -> float:
        """Time-weighted growth, annualised (compounded)."""
        if self.days <= 0:
            return 0.0
        return self._growth ** (DAYS_PER_YEAR / self.days) - 1.0

    @property
    def sharpe(self) -> float:
        """Mean over standard deviation of daily returns, annualised with √365; 0 when flat."""
        if self._n < 2:
            return 0.0
        std = math.sqrt(self._m2 / (self._n - 1))
        return 0.0 if std == 0 else self._mean / std * math.sqrt(DAYS_PER_YEAR)
