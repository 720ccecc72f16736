"""The paper feed: replayed market data standing in for a live feed, on wall time.

It reads a mode's series from ``data_start`` and publishes each message when wall time reaches its
place, ``speed`` seconds of data per second of wall time, restamped to that wall time (a bar's
``open_ts`` moves with it), so every component runs on the live clock as it would against a venue's
feed. The investors' initial capital is deposited once ``deposit_after_ns`` of data have been replayed
(every series has a value by then). It publishes no clock: the clock component does, live and in paper
mode alike.

Restarted (its process killed and started again in the same run), it is rebuilt from what it had
published (:meth:`PaperFeed.history`): it deposits nothing again, skips the messages it had published,
keeps the wall time its replay started at (from its first message's stamp) and publishes at once what
fell due while it was down, then goes on on time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

import msgspec

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import Bar, InvestorDeposit, Message

from .feed.loaders import SeriesReader, close_iterator
from .feed.merge import Stream, merge
from .feed.series import SeriesSpec
from .looping import LoopingComponent

log = logging.getLogger("basis.feed.paper")

NS_PER_S = 1_000_000_000


def restamp(message: Message, ts: int) -> Message:
    """``message`` at ``ts`` (a bar keeps its length: its ``open_ts`` moves with it)."""
    if isinstance(message, Bar):
        return msgspec.structs.replace(message, ts=ts, open_ts=ts - message.interval_s * NS_PER_S)
    return msgspec.structs.replace(message, ts=ts)


class PaperFeed(LoopingComponent):
    """Publishes ``series`` from ``roots`` at ``speed`` × wall time from ``data_start`` (module doc)."""

    name = "market-data"

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        series: Sequence[SeriesSpec],
        roots: Sequence[Path],
        data_start: int,
        speed: float = 3600.0,
        deposit: tuple[float, str] | None = None,
        deposit_after_ns: int = 0,
    ) -> None:
        super().__init__(bus, clock, ids)
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.readers = [SeriesReader(spec, roots, ids, start=data_start) for spec in series]
        self.data_start = data_start
        self.speed = speed
        self.deposit = deposit
        self.deposit_after_ns = deposit_after_ns
        self.published = 0
        self.first_stamp: int | None = None
        """The stamp of the first message it published before a restart (None: it never ran)."""

    async def on_start(self) -> None:
        """Start the replay at once; in a run that can be resumed, once rebuilt (:meth:`rebuilt`)."""
        if not self.bus.run_id:
            await super().on_start()

    def history(self) -> tuple[str, ...]:
        """What it published: the market data and the initial deposit."""
        return (subjects.pattern(subjects.MD, ">"), subjects.cmd("fund", "deposit"))

    def recall(self, message: Message) -> None:
        if isinstance(message, InvestorDeposit):
            self.deposit = None  # deposited once: never again
            return
        self.published += 1
        if self.first_stamp is None or message.ts < self.first_stamp:
            self.first_stamp = message.ts

    async def rebuilt(self) -> None:
        await super().on_start()

    def wall_time(self, wall_start: int, data_ts: int) -> int:
        """When the message of data time ``data_ts`` is due."""
        return wall_start + round((data_ts - self.data_start) / self.speed)

    async def loop(self) -> None:
        wall_start = self.clock.now_ns()
        deposit = self.deposit
        skip = self.published  # published before a restart
        messages = merge((Stream.of_reader(r) for r in self.readers), start=self.data_start)
        try:
            for message in messages:
                if self.stopped.is_set():
                    return
                if skip:
                    if skip == self.published and self.first_stamp is not None:  # the first message
                        wall_start = self.first_stamp - round((message.ts - self.data_start) / self.speed)
                    skip -= 1
                    continue
                if deposit is not None and message.ts >= self.data_start + self.deposit_after_ns:
                    amount, asset = deposit
                    deposit = None
                    now = self.clock.now_ns()
                    await self.emit(
                        InvestorDeposit(id=self.ids.next_id(), ts=now, amount=amount, asset=asset)
                    )
                due = self.wall_time(wall_start, message.ts)
                now = self.clock.now_ns()
                if due > now:
                    await asyncio.sleep((due - now) / NS_PER_S)
                await self.emit(restamp(message, due))
                self.published += 1
        finally:
            close_iterator(messages)
        log.info("paper feed: the data ran out after %d messages", self.published)
