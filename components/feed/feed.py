"""The market-data feed of a backtest: replays historical series on the bus and drives the clock.

For each distinct time ``t`` of the merged stream (see :mod:`.merge` for the order of equal times) the
feed advances the :class:`SimClock` to ``t``, publishes every message of ``t`` (market data first, then
investor flows) and then one ``ClockTicked(ts=t)``: the monitors revalue once per time and the strategy
acts after them. After the last time it publishes ``ClockTicked(final=True)`` at the window's end (the
last time replayed when the window has no end or the replay was stopped), so that what accrues by time
(lending interest) does so up to the end of the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from basis.bus.bus import Bus
from basis.bus.clock import SimClock
from basis.bus.component import Component
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    Bar,
    ClockTicked,
    FundingRate,
    GasPrice,
    InvestorDeposit,
    InvestorWithdrawal,
    LstRate,
    Message,
    ModelSignal,
    OraclePrice,
    ReserveState,
    RewardDistribution,
)

from .errors import WindowError
from .loaders import ReadStats, SeriesReader, close_iterator
from .merge import Stream, merge
from .series import SeriesSpec
from .times import iso

ProgressHook = Callable[[int], None]

KIND_OF: dict[type[Message], str] = {
    Bar: "bar",
    FundingRate: "funding",
    ReserveState: "reserve",
    OraclePrice: "oracle",
    LstRate: "lst",
    GasPrice: "gas",
    RewardDistribution: "reward",
    ModelSignal: "signal",
    InvestorDeposit: "deposit",
    InvestorWithdrawal: "withdrawal",
    ClockTicked: "clock",
}


class MarketDataFeed(Component):
    """Replays ``series`` from ``roots`` (plus investor ``flows`` and extra ``streams``) over ``[start, end)``.

    Missing series fail at construction (:class:`MissingSeriesError`), not in the middle of a run.
    ``flows`` outside the window are not replayed; they are counted as ``flows_outside_window``.
    ``progress`` is called with the current time every ``progress_every`` distinct times and once at the end.
    A ``stop`` control message ends the replay after the current time (the final tick is still sent).
    A feed replays once: :meth:`run` a second time publishes only the final tick.
    """

    name = "market-data"

    def __init__(
        self,
        bus: Bus,
        clock: SimClock,
        ids: IdFactory,
        *,
        series: Sequence[SeriesSpec],
        roots: Sequence[Path],
        start: int | None = None,
        end: int | None = None,
        flows: Iterable[InvestorDeposit | InvestorWithdrawal] = (),
        streams: Sequence[Stream] = (),
        progress: ProgressHook | None = None,
        progress_every: int = 1_000,
    ) -> None:
        super().__init__(bus, clock, ids)
        if start is not None and end is not None and start >= end:
            raise WindowError(f"empty window: start {iso(start)} is not before end {iso(end)}")
        if progress_every < 1:
            raise ValueError("progress_every must be at least 1")
        self.sim_clock = clock
        self.window_start = start
        self.window_end = end
        self.readers = [SeriesReader(spec, roots, ids, start=start, end=end) for spec in series]
        self.flows = list(flows)
        self.streams = list(streams)
        self.progress = progress
        self.progress_every = progress_every
        self.counts: Counter[str] = Counter()

    @property
    def stats(self) -> dict[str, ReadStats]:
        """Per series: messages published, duplicates and overlapping rows dropped."""
        return {reader.spec.name: reader.stats for reader in self.readers}

    def _in_window(self, ts: int) -> bool:
        start, end = self.window_start, self.window_end
        return (start is None or ts >= start) and (end is None or ts < end)

    def _streams(self) -> list[Stream]:
        flows = [f for f in self.flows if self._in_window(f.ts)]
        self.counts["flows_outside_window"] = len(self.flows) - len(flows)
        return [
            *(Stream.of_reader(reader) for reader in self.readers),
            *self.streams,
            Stream("flow", "fund", "flows", flows),
        ]

    async def run(self) -> dict[str, int]:
        """Replay everything; returns the messages published per kind.

        Keys: ``bar``, ``funding``, ``reserve``, ``oracle``, ``lst``, ``gas``, ``reward``, ``signal``,
        ``deposit``, ``withdrawal`` (those that occurred), ``clock`` (ticks, the final one included),
        ``timestamps`` (distinct times replayed) and ``flows_outside_window``.
        """
        counts = self.counts
        counts.clear()
        clock = self.sim_clock
        current: int | None = None
        ticks = 0
        emit = self.emit
        published: dict[type, int] = {}  # per message type, folded into ``counts`` at the end
        messages = merge(self._streams(), start=self.window_start, end=self.window_end)
        try:
            for message in messages:
                ts = message.ts
                if ts != current:
                    if current is not None:
                        await self._tick()
                        ticks += 1
                        if self.progress is not None and ticks % self.progress_every == 0:
                            self.progress(current)
                        if self.stopped.is_set():
                            current = None
                            break
                    clock.advance_to(ts)
                    current = ts
                await emit(message)
                kind = type(message)
                published[kind] = published.get(kind, 0) + 1
        finally:
            close_iterator(messages)
        for kind, n in published.items():
            counts[KIND_OF.get(kind, kind.__name__)] += n
        if current is not None:
            await self._tick()
            ticks += 1
        end = self.window_end
        if end is not None and not self.stopped.is_set() and clock.now_ns() < end:
            clock.advance_to(end)  # the run ends at its end: what accrues by time does so up to it
        await self._tick(final=True)
        counts["timestamps"] = ticks
        if self.progress is not None:
            self.progress(clock.now_ns())
        return dict(counts)

    async def _tick(self, *, final: bool = False) -> None:
        # = self.emit(self.make(ClockTicked, final=final)), built directly (once per distinct time)
        await self.emit(ClockTicked(id=self.ids.next_id(), ts=self.clock.now_ns(), final=final))
        self.counts["clock"] += 1
