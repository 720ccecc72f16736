"""Merge many time-ordered streams into one, streaming (a heap of the streams' heads), with a fixed order for ties.

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


def merge(
    streams: Iterable[Stream], *, start: int | None = None, end: int | None = None
) -> Iterator[Message]:
    """All messages of ``streams`` in time order (ties: see the module doc), with ``start <= ts < end``.

    Each stream must be ordered by time (a stream that goes back raises :class:`DataError`). The merge
    pulls one message ahead per stream and stops reading at the first message at or after ``end``.

    The heap holds one plain integer per stream, ``ts << bits | rank``: integers order as ``(ts, rank)``,
    so the heap needs no tuple per message, and the low bits tell which stream the head came from.
    """
    ordered = sorted(streams, key=lambda s: s.order_key)
    bits = max(1, (len(ordered) - 1).bit_length())
    mask = (1 << bits) - 1
    iterators = [iter(stream.messages) for stream in ordered]
    heads: list[Message | None] = [None] * len(ordered)
    heap: list[int] = []
    try:
        for rank, iterator in enumerate(iterators):
            message = next(iterator, None)
            if message is not None:
                heads[rank] = message
                heap.append(message.ts << bits | rank)
        heapq.heapify(heap)
        while heap:
            key = heap[0]
            rank = key & mask
            message = heads[rank]
            assert message is not None
            ts = message.ts
            if end is not None and ts >= end:
                return
            if start is None or ts >= start:
                yield message
            following = next(iterators[rank], None)
            if following is None:
                heads[rank] = None
                heapq.heappop(heap)
                continue
            new_key = following.ts << bits | rank
            if new_key < key:
                stream = ordered[rank]
                raise DataError(
                    f"stream {stream.label} goes back in time: {iso(following.ts)} after {iso(ts)}"
                )
            heads[rank] = following
            heapq.heapreplace(heap, new_key)
    finally:
        for iterator in iterators:
            close_iterator(iterator)
