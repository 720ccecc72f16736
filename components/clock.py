"""The clock component: ``sys.clock`` from wall time, live and in paper mode.

In a backtest the replay feed publishes ``ClockTicked`` at every timestamp of the data. Live, nothing
else would: this component publishes one every ``period_s`` of wall time, on the multiples of the period
(a 1 s clock ticks at every whole second, stamped with that second), so the timers that run on
``sys.clock`` (router retries and deadlines, strategy cooldowns and outcome deadlines, revaluations,
arrivals of simulated transfers) fire the same way in every environment. Ticks missed while the process was busy are skipped, never
bunched to catch up: the next tick is the next multiple of the period after the time it is scheduled.
"""

from __future__ import annotations

import asyncio
import logging
import math

from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import ClockTicked

from .looping import LoopingComponent

log = logging.getLogger("basis.clock")

NS_PER_S = 1_000_000_000


class ClockTicker(LoopingComponent):
    """Publishes ``ClockTicked`` every ``period_s`` of ``clock`` time until stopped."""

    name = "clock"

    def __init__(self, bus: Bus, clock: Clock, ids: IdFactory, *, period_s: float = 1.0) -> None:
        super().__init__(bus, clock, ids)
        if not (math.isfinite(period_s) and period_s > 0):
            raise ValueError(f"period_s must be > 0, got {period_s}")
        self.period_ns = round(period_s * NS_PER_S)
        self.ticks = 0

    def next_tick_ns(self, now_ns: int) -> int:
        """The first multiple of the period after ``now_ns``."""
        return (now_ns // self.period_ns + 1) * self.period_ns

    async def loop(self) -> None:
        last = 0
        while not self.stopped.is_set():
            now = self.clock.now_ns()
            due = max(self.next_tick_ns(now), last + self.period_ns)  # never twice if wall time steps back
            await asyncio.sleep(max(0, due - now) / NS_PER_S)
            try:
                await self.emit(ClockTicked(id=self.ids.next_id(), ts=due))
            except Exception:  # the bus is away for a moment: the next tick is the next period
                log.exception("clock: tick %d not published", due)
                continue
            last = due
            self.ticks += 1
