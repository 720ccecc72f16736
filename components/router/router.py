"""Execution router: sends instructions addressed to ``venue="router"`` to the venues that carry them out.

For every instruction on ``cmd.router.<kind>`` the router

1. looks up the venues of its action type (:class:`~basis.components.router.actions.ActionMap`) and
   publishes one child instruction per venue: the same instruction with ``venue`` set, a new id, the
   size split by the venue weights (hedges by ``hedge_allocation``), ``causation_id`` = the parent's id
   and the parent's correlation id;
2. waits for each child's outcome on ``evt.<venue>.filled`` / ``evt.<venue>.rejected``; a transfer
   counts as filled when its funds arrived (``TransferCompleted`` for the child), except transfers to
   an external destination (the investor), which complete at the fill;
3. resends a child rejected with ``transient=True`` after ``retry_delay_s × retry_backoff^(n-1)`` of
   clock time (n = attempts so far, checked on ``ClockTicked``), as a new child instruction, until the
   leg has had ``max_attempts`` attempts; any other rejection fails the leg at once;
4. publishes :class:`~basis.bus.messages.RouteCompleted` on ``evt.router.completed`` when every leg
   filled (``filled=True``) or every leg is done and one failed (``filled=False``, ``reason`` lists
   ``<venue>: <reason>`` per failed leg). Legs that filled stay filled: a parent can fail part-way.

Instructions addressed to a concrete venue never reach the router: they go straight to the venue.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.component import Component
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    ClockTicked,
    Instruction,
    InstructionFilled,
    InstructionRejected,
    Message,
    RouteCompleted,
    Transfer,
    TransferCompleted,
)

from .actions import ROUTER, SIZE_FIELDS, ActionMap, RoutingError
from .routes import LegState, RetryQueue, Route

if TYPE_CHECKING:
    from basis.configs.models import ModeConfig

log = logging.getLogger("basis.router")

NS_PER_S = 1_000_000_000
SEEN_LIMIT = 100_000
INSTRUCTION_TYPES: tuple[type[Message], ...] = (Instruction,)


@dataclass(frozen=True, slots=True)
class RouterParams:
    """What the router needs: where each action goes, and how it retries."""

    actions: ActionMap
    max_attempts: int = 3
    """Attempts per leg, the first one included."""
    retry_delay_s: float = 60.0
    """Clock time before the first retry of a transiently rejected leg."""
    retry_backoff: float = 2.0
    """Factor applied to the delay for every further retry."""
    external_destinations: frozenset[str] = field(default_factory=lambda: frozenset({"investor"}))
    """Transfer destinations outside the fund: no ``TransferCompleted`` follows, the fill completes them."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if not math.isfinite(self.retry_delay_s) or self.retry_delay_s < 0:
            raise ValueError(f"retry_delay_s must be >= 0, got {self.retry_delay_s}")
        if not math.isfinite(self.retry_backoff) or self.retry_backoff < 1:
            raise ValueError(f"retry_backoff must be >= 1, got {self.retry_backoff}")

    @classmethod
    def from_mode(cls, mode: ModeConfig, **retry: Any) -> RouterParams:
        """The action map of a mode configuration: hedges by its active allocation, spot, lending and
        staking to its venues, atomic bundles (flash loans) through the atomic middleware when it
        borrows against staked collateral. ``retry`` sets ``max_attempts`` and the delays."""
        venues = mode.venues
        actions = ActionMap.build(
            hedge_allocation={str(venue): share for venue, share in mode.active_hedge_allocation.items()},
            spot=venues.spot,
            lending=venues.lending,
            staking=venues.staking,
            flash_loan=mode.bundle_venue,
            unwind=venues.unwind,
        )
        return cls(actions=actions, **retry)

    def retry_delay_ns(self, attempts: int) -> int:
        """Delay before the next attempt of a leg that has had ``attempts`` attempts."""
        return round(self.retry_delay_s * self.retry_backoff ** (attempts - 1) * NS_PER_S)


class ExecutionRouter(Component):
    """Routes ``cmd.router.*`` instructions to venues, retries transient rejections, reports outcomes."""

    name = "router"

    def __init__(self, bus: Bus, clock: Clock, ids: IdFactory, params: RouterParams) -> None:
        super().__init__(bus, clock, ids)
        self.params = params
        self.routes: dict[str, Route] = {}
        """Open routes by parent instruction id."""
        self._legs: dict[str, LegState] = {}
        """The leg waiting for each child instruction id."""
        self._retries = RetryQueue()
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def on_start(self) -> None:
        await self.bus.subscribe(
            subjects.pattern(subjects.CMD, ROUTER, "*"), self.on_instruction, types=INSTRUCTION_TYPES
        )
        await self.bus.subscribe(
            subjects.pattern(subjects.EVT, "*", "filled"), self.on_filled, types=(InstructionFilled,)
        )
        await self.bus.subscribe(
            subjects.pattern(subjects.EVT, "*", "rejected"), self.on_rejected, types=(InstructionRejected,)
        )
        await self.bus.subscribe(
            subjects.evt("transfers", "completed"), self.on_arrival, types=(TransferCompleted,)
        )
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))

    # --- parents in ---------------------------------------------------------------------------------

    async def on_instruction(self, parent: Instruction) -> None:
        if parent.venue != ROUTER or parent.id in self._seen:
            return  # not ours, or redelivered
        self._seen[parent.id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        route = Route(parent)
        self.routes[parent.id] = route
        try:
            legs = self.params.actions.legs(parent)
        except RoutingError as exc:
            await self._complete(route, parent, reason=str(exc))
            return
        route.legs = [LegState(route=route, venue=leg.venue, size=leg.size) for leg in legs]
        for leg in route.legs:
            await self._send(leg)

    async def _send(self, leg: LegState) -> None:
        parent = leg.route.parent
        fields: dict[str, object] = {
            "id": self.ids.next_id(),
            "ts": self.clock.now_ns(),
            "venue": leg.venue,
            "causation_id": parent.id,
            "correlation_id": parent.correlation_id or parent.id,
        }
        if leg.size is not None:
            action = parent.action
            fields["action"] = msgspec.structs.replace(action, **{SIZE_FIELDS[type(action)]: leg.size})
        child = msgspec.structs.replace(parent, **fields)
        leg.attempts += 1
        leg.status = "sent"
        leg.child_id = child.id
        leg.arrived = False
        self._legs[child.id] = leg
        await self.emit(child)

    # --- outcomes in --------------------------------------------------------------------------------

    async def on_filled(self, event: InstructionFilled) -> None:
        leg = self._legs.get(event.instruction_id)
        if leg is None or leg.status != "sent":
            return
        parent = leg.route.parent
        awaits_arrival = (
            isinstance(parent.action, Transfer)
            and parent.action.destination not in self.params.external_destinations
            and not leg.arrived
        )
        if awaits_arrival:
            leg.status = "arriving"
            return
        await self._leg_filled(leg, event)

    async def on_arrival(self, event: TransferCompleted) -> None:
        leg = self._legs.get(event.instruction_id)
        if leg is None:
            return
        if leg.status == "arriving":
            await self._leg_filled(leg, event)
        else:
            leg.arrived = True  # arrived before the fill was seen: the fill completes the leg

    async def on_rejected(self, event: InstructionRejected) -> None:
        leg = self._legs.get(event.instruction_id)
        if leg is None or leg.status != "sent":
            return  # unknown, or already answered: a late rejection must not drop the leg's entry
        del self._legs[event.instruction_id]
        if event.transient and leg.attempts < self.params.max_attempts:
            due = self.clock.now_ns() + self.params.retry_delay_ns(leg.attempts)
            leg.reason = event.reason
            self._retries.schedule(leg, due)
            log.info(
                "router: %s rejected %s (%s), retry %d at %d",
                leg.venue,
                leg.child_id,
                event.reason,
                leg.attempts + 1,
                due,
            )
            return
        leg.status = "failed"
        attempts = f" after {leg.attempts} attempts" if event.transient else ""
        leg.reason = f"{event.reason}{attempts}"
        await self._maybe_complete(leg.route, event)

    def on_clock(self, tick: ClockTicked) -> Awaitable[None] | None:
        """Resend the legs whose retry is due. A plain function: on most ticks no retry is waiting, and
        the tick costs no coroutine; otherwise the resending is returned for the bus to await."""
        if not self._retries.pending(tick.ts):
            return None
        return self._resend_due(tick.ts)

    async def _resend_due(self, now: int) -> None:
        for leg in self._retries.due(now):
            if leg.status == "retrying":
                await self._send(leg)

    # --- completion ---------------------------------------------------------------------------------

    async def _leg_filled(self, leg: LegState, event: Message) -> None:
        self._legs.pop(leg.child_id, None)
        leg.status = "filled"
        leg.route.filled_children.append(leg.child_id)
        await self._maybe_complete(leg.route, event)

    async def _maybe_complete(self, route: Route, event: Message) -> None:
        if route.complete:
            await self._complete(route, event, reason="" if route.filled else route.failure_reason())

    async def _complete(self, route: Route, cause: Message, *, reason: str) -> None:
        parent = route.parent
        self.routes.pop(parent.id, None)
        await self.emit(
            self.make(
                RouteCompleted,
                cause=cause,
                correlation_id=parent.correlation_id or parent.id,
                instruction_id=parent.id,
                filled=not reason,
                reason=reason,
                children=tuple(route.filled_children),
                attempts=route.attempts,
            )
        )
