"""The router's bookkeeping: one :class:`Route` per parent instruction, one :class:`LegState` per venue.

Pure state, no I/O. A leg is ``sent`` (waiting for the venue's answer; partial fills keep it there),
``arriving`` (a transfer that filled and waits for its ``TransferCompleted``), ``retrying`` (rejected as
transient, resent at ``due_ns``), then ``filled``, ``partial`` (cancelled or expired after part of it
filled) or ``failed``. A route is complete when every leg is done.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Literal

from basis.bus.messages import Instruction, LegOutcome

LegStatus = Literal["sent", "arriving", "retrying", "filled", "partial", "failed"]
DONE: frozenset[str] = frozenset({"filled", "partial", "failed"})
_LEG_STATES: dict[str, Literal["filled", "partially_filled", "failed"]] = {
    "filled": "filled",
    "partial": "partially_filled",
    "failed": "failed",
}


@dataclass(slots=True)
class LegState:
    route: Route
    venue: str
    size: float | None
    """The size sent to this venue (None: the parent's, unsplit)."""
    requested: float | None = None
    """The size asked of this venue (None for an action without one, such as a bundle)."""
    remaining: float | None = None
    """What is still open after the fills seen so far (None before the first fill)."""
    attempts: int = 0
    status: LegStatus = "sent"
    child: Instruction | None = None
    arrived: bool = False
    reason: str = ""
    due_ns: int = 0
    deadline_ns: int = 0
    queries: int = 0
    """Status queries sent since the venue last moved the leg on."""
    seen: set[str] = field(default_factory=set)
    """The ids of the venue's answers applied to the current child (a status repeats them)."""

    @property
    def child_id(self) -> str:
        return self.child.id if self.child is not None else ""

    @property
    def filled(self) -> float | None:
        if self.requested is None:
            return None
        if self.remaining is None:
            return self.requested if self.status == "filled" else 0.0
        return self.requested - self.remaining

    def outcome(self) -> LegOutcome:
        return LegOutcome(
            venue=self.venue,
            state=_LEG_STATES[self.status],
            requested=self.requested,
            filled=self.filled,
            reason=self.reason,
        )


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
        return "; ".join(f"{leg.venue}: {leg.reason}" for leg in self.legs if leg.status != "filled")


class LegTimers:
    """Legs waiting for a time (a retry, a deadline), in due order (then in the order they were set).

    An entry whose leg moved on is not removed: the caller checks, when it comes due, that the leg still
    waits for that time."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, LegState]] = []
        self._seq = itertools.count()

    def schedule(self, leg: LegState, due_ns: int) -> None:
        heapq.heappush(self._heap, (due_ns, next(self._seq), leg))

    def pending(self, now_ns: int) -> bool:
        """True when a leg is due at ``now_ns`` (O(1): the earliest time is first in the heap)."""
        heap = self._heap
        return bool(heap) and heap[0][0] <= now_ns

    def due(self, now_ns: int) -> list[tuple[int, LegState]]:
        """Remove and return ``(due_ns, leg)`` for every entry due at or before ``now_ns``."""
        out: list[tuple[int, LegState]] = []
        while self._heap and self._heap[0][0] <= now_ns:
            due, _, leg = heapq.heappop(self._heap)
            out.append((due, leg))
        return out

    def __len__(self) -> int:
        return len(self._heap)
