"""Clocks: the only place that knows whether time is simulated."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...


class LiveClock:
    """Wall-clock time, nanoseconds since the Unix epoch (UTC)."""

    def now_ns(self) -> int:
        return time.time_ns()


class SimClock:
    """Simulation time, advanced by the market-data feed; never goes backwards."""

    __slots__ = ("_now",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns < self._now:
            raise ValueError(f"simulation clock cannot go back from {self._now} to {ts_ns}")
        self._now = ts_ns
