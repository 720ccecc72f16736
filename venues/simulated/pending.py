"""Funds in flight: arrivals due at a simulated time, released by ``ClockTicked``."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from basis.bus import instruments as keys
from basis.bus.messages import Fill, Message, TransferCompleted

from ..gateway import GatewayComponent

NS = 1_000_000_000


def seconds_to_ns(seconds: float) -> int:
    if seconds < 0:
        raise ValueError(f"a delay cannot be negative, got {seconds}")
    return round(seconds * NS)


@dataclass(frozen=True, slots=True)
class Arrival:
    """The arrival side of a transfer (or a redemption) the venue already debited.

    While it is under way the departed value sits on ``transit:BaseToken:<in_transit_asset>``: the
    departing fill credits it (:meth:`departure`) and the arrival debits it again, so funds in flight
    stay on the books.
    """

    due_ns: int
    cause: Message
    source: str
    destination: str
    asset: str
    amount: float
    fee: float
    changes: tuple[Fill, ...]
    in_transit_asset: str = ""
    departed: float = 0.0

    def departure(self) -> Fill:
        """The change that parks the departed value in transit (add it to the departing fill)."""
        return Fill(instrument=keys.in_transit(self.in_transit_asset or self.asset), delta=self.departed)

    def arrival_changes(self) -> tuple[Fill, ...]:
        return (
            Fill(instrument=keys.in_transit(self.in_transit_asset or self.asset), delta=-self.departed),
            *self.changes,
        )


class Arrivals:
    """Arrivals ordered by due time, then by the order they were scheduled."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Arrival]] = []
        self._seq = itertools.count()

    def add(self, arrival: Arrival) -> None:
        heapq.heappush(self._heap, (arrival.due_ns, next(self._seq), arrival))

    def due(self, now_ns: int) -> list[Arrival]:
        """Remove and return every arrival due at or before ``now_ns``."""
        out: list[Arrival] = []
        while self._heap and self._heap[0][0] <= now_ns:
            out.append(heapq.heappop(self._heap)[2])
        return out

    async def release(self, gateway: GatewayComponent, now_ns: int) -> None:
        """Publish the ``TransferCompleted`` of every arrival due at or before ``now_ns``."""
        for arrival in self.due(now_ns):
            await gateway.emit(completed(gateway, arrival))

    def release_due(self, gateway: GatewayComponent, now_ns: int) -> Coroutine[Any, Any, None] | None:
        """:meth:`release` when an arrival is due at or before ``now_ns``, else None: a gateway's clock
        handler returns it, so the ticks with nothing due (nearly all) cost no coroutine."""
        heap = self._heap
        if heap and heap[0][0] <= now_ns:
            return self.release(gateway, now_ns)
        return None

    def pending(self) -> list[Arrival]:
        return [item[2] for item in sorted(self._heap)]

    def __len__(self) -> int:
        return len(self._heap)


def completed(gateway: GatewayComponent, arrival: Arrival) -> TransferCompleted:
    """The ``TransferCompleted`` event of ``arrival``, caused by the instruction that started it."""
    return gateway.make(
        TransferCompleted,
        cause=arrival.cause,
        instruction_id=arrival.cause.id,
        source=arrival.source,
        destination=arrival.destination,
        asset=arrival.asset,
        amount=arrival.amount,
        fee=arrival.fee,
        changes=arrival.arrival_changes(),
    )
