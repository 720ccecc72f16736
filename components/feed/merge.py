"""Merge many time-ordered streams into one, streaming (``heapq.merge``), with a fixed order for ties.

Messages are ordered by ``ts``. Messages with the same ``ts`` are ordered by the kind of their stream,
then its venue, symbol and market (plain string order), then their order within the stream:

    reserve, oracle, lst, gas, bar, funding, reward, signal, flow

Prices and rates come first, so a funding settlement at ``t`` is valued with the bar that closes at
``t``; reward payouts follow the market data; investor flows come last, after all market data of
their time. The order is a total order on the inputs, so a replay is the same on every run.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from basis.bus.messages import Message

from .errors import DataError
from .loaders import SeriesReader, close_iterator
from .series import SeriesSpec
from .times import iso

KIND_ORDER: tuple[str, ...] = (
    "reserve",
    "oracle",
    "lst",
    "gas",
    "bar",
    "funding",
    "reward",
    "signal",
    "flow",
)
KIND_RANK: dict[str, int] = {kind: rank for rank, kind in enumerate(KIND_ORDER)}


@dataclass(frozen=True, slots=True)
class Stream:
    """A time-ordered source of messages and the labels that place it among streams at equal times."""

    kind: str
    venue: str
    symbol: str
    messages: Iterable[Message]
    market: str = ""

    @property
    def order_key(self) -> tuple[int, str, str, str]:
        if self.kind not in KIND_RANK:
            raise DataError(f"unknown stream kind {self.kind!r}: expected one of {', '.join(KIND_ORDER)}")
        return (KIND_RANK[self.kind], self.venue, self.symbol, self.market)

    @property
    def label(self) -> str:
        return ":".join(p for p in (self.kind, self.venue, self.symbol, self.market) if p)

    @classmethod
    def of(cls, spec: SeriesSpec, messages: Iterable[Message]) -> Stream:
        return cls(spec.kind, spec.venue, spec.symbol, messages, spec.market or "")

    @classmethod
    def of_reader(cls, reader: SeriesReader) -> Stream:
        return cls.of(reader.spec, reader)


def _ranked(stream: Stream, rank: int) -> Iterator[tuple[int, int, int, Message]]:
    previous = -(2**63)
    messages = iter(stream.messages)
    try:
        for seq, message in enumerate(messages):
            ts = message.ts
            if ts < previous:
                raise DataError(f"stream {stream.label} goes back in time: {iso(ts)} after {iso(previous)}")
            previous = ts
            yield ts, rank, seq, message
    finally:
        close_iterator(messages)


def merge(
    streams: Iterable[Stream], *, start: int | None = None, end: int | None = None
) -> Iterator[Message]:
    """All messages of ``streams`` in time order (ties: see the module doc), with ``start <= ts < end``.

    Each stream must be ordered by time (a stream that goes back raises :class:`DataError`). The merge
    pulls one message ahead per stream and stops reading at the first message at or after ``end``.
    """
    ordered = sorted(streams, key=lambda s: s.order_key)
    ranked = [_ranked(stream, rank) for rank, stream in enumerate(ordered)]
    try:
        for ts, _, _, message in heapq.merge(*ranked):
            if end is not None and ts >= end:
                return
            if start is not None and ts < start:
                continue
            yield message
    finally:
        for iterator in ranked:
            close_iterator(iterator)
