"""The router's bookkeeping: one :class:`Route` per parent instruction, one :class:`LegState` per venue.

Pure state, no I/O. A leg is ``sent`` (waiting for the venue's answer), ``arriving`` (a transfer that
filled and waits for its ``TransferCompleted``), ``retrying`` (rejected as transient, resent at
``due_ns``), then ``filled`` or ``failed``. A route is complete when every leg is filled or failed.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Literal

from basis.bus.messages import Instruction

LegStatus = Literal["sent", "arriving", "retrying", "filled", "failed"]
DONE: frozenset[str] = frozenset({"filled", "failed"})


@dataclass(slots=True)
class LegState:
    route: Route
    venue: str
    size: float | None
    attempts: int = 0
    status: LegStatus = "sent"
    child_id: str = ""
    arrived: bool = False
    reason: str = ""
    due_ns: int = 0


@dataclass(slots=True)
class Route:
    parent: Instruction
    legs: list[LegState] = field(default_factory=list)
    filled_children: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(leg.status in DONE for leg in self.legs)

    @property
    def filled(self) -> bool:
        return all(leg.status == "filled" for leg in self.legs)

    @property
    def attempts(self) -> int:
        return sum(leg.attempts for leg in self.legs)

    def failure_reason(self) -> str:
        return "; ".join(f"{leg.venue}: {leg.reason}" for leg in self.legs if leg.status == "failed")


class RetryQueue:
    """Legs waiting for their retry time, in due order (then in the order they were scheduled)."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, LegState]] = []
        self._seq = itertools.count()

    def schedule(self, leg: LegState, due_ns: int) -> None:
        leg.status = "retrying"
        leg.due_ns = due_ns
        heapq.heappush(self._heap, (due_ns, next(self._seq), leg))

    def pending(self, now_ns: int) -> bool:
        """True when a leg is due at ``now_ns`` (O(1): the earliest retry is first in the heap)."""
        heap = self._heap
        return bool(heap) and heap[0][0] <= now_ns

    def due(self, now_ns: int) -> list[LegState]:
        out: list[LegState] = []
        while self._heap and self._heap[0][0] <= now_ns:
            out.append(heapq.heappop(self._heap)[2])
        return out

    def __len__(self) -> int:
        return len(self._heap)
