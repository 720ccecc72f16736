"""Execution router: sends instructions addressed to ``venue="router"`` to the venues that carry them out.

For every instruction on ``cmd.router.<kind>`` the router

1. looks up the venues of its action type (:class:`~basis.components.router.actions.ActionMap`) and
   publishes one child instruction per venue: the same instruction with ``venue`` set, a new id, the
   action's size split by the venue weights (hedges by ``hedge_allocation``), ``causation_id`` = the
   parent's id, the parent's correlation id, and a ``deadline_ns`` ``answer_timeout_s`` of clock time
   ahead;
2. waits for each child's outcome on ``evt.<venue>.*``: fills (``InstructionFilled``; a partial fill,
   ``remaining`` > 0, keeps the leg open), ``InstructionCancelled`` / ``InstructionExpired`` (the leg ends
   with what filled), ``InstructionRejected``. A transfer counts as filled when its funds arrived
   (``TransferCompleted`` for the child), except transfers to an external destination (the investor),
   which complete at the fill;
3. never waits forever: when a child's deadline passes with no final answer, it asks the venue
   (``QueryStatus`` on ``cmd.<venue>.status``) and reconciles from the ``InstructionStatus``: the outcomes
   it carries are taken as if they had just arrived; ``unknown`` (the venue never received the child)
   sends the same child again (same id, so the venue executes it at most once); an open instruction is
   waited for again. After ``max_status_queries`` queries with no final answer the leg fails. (A filled
   transfer waiting for its funds to arrive has no deadline here: the funds are the destination's to
   report; the strategy's own outcome deadline bounds that wait);
4. resends a child rejected with ``transient=True`` after ``retry_delay_s × retry_backoff^(n-1)`` of
   clock time (n = attempts so far, checked on ``ClockTicked``), as a new child instruction, until the
   leg has had ``max_attempts`` attempts; any other rejection fails the leg at once;
5. publishes :class:`~basis.bus.messages.RouteCompleted` on ``evt.router.completed`` once every leg is
   done: ``filled=True`` when every leg filled in full, else ``reason`` lists ``<venue>: <reason>`` per
   leg that did not; ``legs`` says how each ended (filled, partially filled, failed; requested and filled
   sizes). Legs that filled stay filled: a parent can fail part-way.

Instructions addressed to a concrete venue never reach the router: they go straight to the venue.

A restarted router process is rebuilt from the history of its run (:meth:`ExecutionRouter.history`): the
parents and the venues' answers go to its handlers, which open and settle routes without sending
anything; the children, status queries and route outcomes it had published go to
:meth:`ExecutionRouter.recall`, which puts each child back on its leg with its deadline (a leg it had not
sent yet when its process stopped is sent then). So it never routes a parent twice and keeps waiting for
(and asking after) the children still open.
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
    FINAL_STATES,
    ClockTicked,
    Instruction,
    InstructionCancelled,
    InstructionExpired,
    InstructionFilled,
    InstructionRejected,
    InstructionStatus,
    Message,
    QueryStatus,
    RouteCompleted,
    TransactionReverted,
    Transfer,
    TransferCompleted,
)

from .actions import ROUTER, SIZE_FIELDS, ActionMap, RoutingError, size_of
from .routes import LegState, LegTimers, Route

if TYPE_CHECKING:
    from basis.configs.models import ModeConfig

log = logging.getLogger("basis.router")

NS_PER_S = 1_000_000_000
SEEN_LIMIT = 100_000
INSTRUCTION_TYPES: tuple[type[Message], ...] = (Instruction,)
OUTCOMES: dict[str, type[Message]] = {
    "filled": InstructionFilled,
    "rejected": InstructionRejected,
    "cancelled": InstructionCancelled,
    "expired": InstructionExpired,
    "status": InstructionStatus,
    "reverted": TransactionReverted,
}
"""The venue events that answer a child, by the last token of their subject (``evt.<venue>.<kind>``)."""


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
    answer_timeout_s: float = 300.0
    """Clock time a venue has to give a child its final answer (and then each status query) before the
    router asks for the child's status; 0 waits for ever."""
    max_status_queries: int = 3
    """Status queries without a final answer after which a leg fails."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if not math.isfinite(self.retry_delay_s) or self.retry_delay_s < 0:
            raise ValueError(f"retry_delay_s must be >= 0, got {self.retry_delay_s}")
        if not math.isfinite(self.retry_backoff) or self.retry_backoff < 1:
            raise ValueError(f"retry_backoff must be >= 1, got {self.retry_backoff}")
        if not math.isfinite(self.answer_timeout_s) or self.answer_timeout_s < 0:
            raise ValueError(f"answer_timeout_s must be >= 0, got {self.answer_timeout_s}")
        if self.max_status_queries < 1:
            raise ValueError(f"max_status_queries must be >= 1, got {self.max_status_queries}")

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

    @property
    def answer_timeout_ns(self) -> int:
        return round(self.answer_timeout_s * NS_PER_S)

    def retry_delay_ns(self, attempts: int) -> int:
        """Delay before the next attempt of a leg that has had ``attempts`` attempts."""
        return round(self.retry_delay_s * self.retry_backoff ** (attempts - 1) * NS_PER_S)


class ExecutionRouter(Component):
    """Routes ``cmd.router.*`` instructions to venues, retries transient rejections, asks for the status
    of unanswered children, reports outcomes."""

    name = "router"

    def __init__(self, bus: Bus, clock: Clock, ids: IdFactory, params: RouterParams) -> None:
        super().__init__(bus, clock, ids)
        self.params = params
        self.routes: dict[str, Route] = {}
        """Open routes by parent instruction id."""
        self._legs: dict[str, LegState] = {}
        """The leg waiting for each child instruction id."""
        self._retries = LegTimers()
        self._deadlines = LegTimers()
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def on_start(self) -> None:
        await self.bus.subscribe(
            subjects.pattern(subjects.CMD, ROUTER, "*"), self.on_instruction, types=INSTRUCTION_TYPES
        )
        for kind, event_type in OUTCOMES.items():
            await self.bus.subscribe(
                subjects.pattern(subjects.EVT, "*", kind), self.on_outcome, types=(event_type,)
            )
        await self.bus.subscribe(
            subjects.evt("transfers", "completed"), self.on_arrival, types=(TransferCompleted,)
        )
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))

    def history(self) -> tuple[str, ...]:
        """Every command (the parents, and the children and status queries it sent) and every event (the
        venues' answers, the arrivals, its own route outcomes)."""
        return (subjects.pattern(subjects.CMD, ">"), subjects.pattern(subjects.EVT, "*", "*"))

    def recall(self, message: Message) -> None:
        """What it had published: a child goes back on its leg (waiting for its answer until its deadline),
        a status query counts and moves the leg's deadline, a route outcome closes the route."""
        match message:
            case Instruction(causation_id=parent_id, venue=venue):
                route = self.routes.get(parent_id)
                if route is None:
                    return
                for leg in route.legs:
                    if leg.venue == venue and leg.status in ("sent", "retrying"):
                        if leg.child_id == message.id:
                            self._arm_deadline(leg, message.ts)  # sent again to a venue that never got it
                        else:
                            self._sent(leg, message, message.ts)
                        return
            case QueryStatus(instruction_id=child_id):
                asked = self._legs.get(child_id)
                if asked is not None:
                    asked.queries += 1
                    self._arm_deadline(asked, message.ts)
            case RouteCompleted(instruction_id=parent_id):
                route = self.routes.pop(parent_id, None)
                for leg in route.legs if route is not None else ():
                    self._legs.pop(leg.child_id, None)

    async def rebuilt(self) -> None:
        """Send the legs of a parent it had begun to route and not finished (its process stopped)."""
        for route in list(self.routes.values()):
            for leg in route.legs:
                if leg.status == "sent" and leg.child is None:
                    await self._send(leg)

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
        whole = size_of(parent)
        route.legs = [
            LegState(
                route=route, venue=leg.venue, size=leg.size, requested=whole if leg.size is None else leg.size
            )
            for leg in legs
        ]
        if self.rebuilding:
            return  # the children it sent are recalled
        for leg in route.legs:
            await self._send(leg)

    async def _send(self, leg: LegState) -> None:
        parent = leg.route.parent
        now = self.clock.now_ns()
        timeout = self.params.answer_timeout_ns
        fields: dict[str, object] = {
            "id": self.ids.next_id(),
            "ts": now,
            "venue": leg.venue,
            "causation_id": parent.id,
            "correlation_id": parent.correlation_id or parent.id,
            "deadline_ns": now + timeout if timeout else 0,
        }
        if leg.size is not None:
            action = parent.action
            fields["action"] = msgspec.structs.replace(action, **{SIZE_FIELDS[type(action)]: leg.size})
        child = msgspec.structs.replace(parent, **fields)
        self._sent(leg, child, now)
        await self.emit(child)

    def _sent(self, leg: LegState, child: Instruction, now: int) -> None:
        """``child`` is the leg's new attempt, sent at ``now``: the leg waits for its answer."""
        leg.attempts += 1
        leg.status = "sent"
        leg.child = child
        leg.arrived = False
        leg.remaining = None
        leg.queries = 0
        leg.seen = set()
        self._legs[child.id] = leg
        self._arm_deadline(leg, now)

    def _arm_deadline(self, leg: LegState, now: int) -> None:
        timeout = self.params.answer_timeout_ns
        if timeout:
            leg.deadline_ns = now + timeout
            self._deadlines.schedule(leg, leg.deadline_ns)

    # --- outcomes in --------------------------------------------------------------------------------

    def on_outcome(self, event: Message) -> Awaitable[None] | None:
        """A venue's answer to a child: handled when it is one of ours and the leg still waits for it (a
        plain function: the answers to instructions the router did not send cost no coroutine)."""
        match event:
            case InstructionFilled():
                return self.on_filled(event)
            case InstructionRejected():
                return self.on_rejected(event)
            case InstructionCancelled() | InstructionExpired():
                return self.on_ended(event)
            case InstructionStatus():
                return self.on_status(event)
            case TransactionReverted():
                return self.on_reverted(event)
        return None

    async def on_filled(self, event: InstructionFilled) -> None:
        leg = self._legs.get(event.instruction_id)
        if leg is None or leg.status != "sent" or event.id in leg.seen:
            return  # not ours, answered, or a fill applied before (a status repeats every outcome)
        leg.seen.add(event.id)
        leg.queries = 0
        if event.remaining > 0.0:
            leg.remaining = event.remaining  # partially filled: the leg waits for the rest
            self._arm_deadline(leg, self.clock.now_ns())
            return
        leg.remaining = 0.0
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
            leg.status = "retrying"
            leg.due_ns = due
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
        attempts = f" after {leg.attempts} attempts" if event.transient else ""
        await self._leg_failed(leg, f"{event.reason}{attempts}", event)

    async def on_reverted(self, event: TransactionReverted) -> None:
        """A child's transaction reverted: the leg fails with the decoded reason (nothing but gas moved)."""
        leg = self._legs.get(event.instruction_id)
        if leg is None or leg.status != "sent":
            return
        del self._legs[event.instruction_id]
        await self._leg_failed(leg, f"reverted: {event.reason}", event)

    async def on_ended(self, event: InstructionCancelled | InstructionExpired) -> None:
        """What was open of a child is cancelled or expired: the leg ends with what filled of it."""
        leg = self._legs.get(event.instruction_id)
        if leg is None or leg.status != "sent":
            return
        del self._legs[event.instruction_id]
        what = f"cancelled ({event.reason})" if isinstance(event, InstructionCancelled) else "expired"
        if leg.requested is not None:
            leg.remaining = max(0.0, leg.requested - event.filled)
        leg.reason = f"{what} with {event.filled:g} of {leg.requested:g} filled" if leg.requested else what
        if event.filled > 0.0:
            leg.status = "partial"
            leg.route.filled_children.append(leg.child_id)
            await self._maybe_complete(leg.route, event)
        else:
            await self._leg_failed(leg, leg.reason, event)

    async def on_status(self, status: InstructionStatus) -> None:
        """Reconcile a leg from what its venue says of the child: take the outcomes it carries as if they
        had just arrived; send the child again if the venue never received it; else wait again."""
        leg = self._legs.get(status.instruction_id)
        if leg is None or leg.status != "sent":
            return
        for outcome in status.outcomes:
            pending = self.on_outcome(outcome)
            if pending is not None:
                await pending
        if leg.status != "sent" or status.state in FINAL_STATES:
            return
        if status.state == "unknown" and leg.child is not None:
            log.info("router: %s never received %s, sending it again", leg.venue, leg.child_id)
            self._arm_deadline(leg, self.clock.now_ns())
            await self.emit(leg.child)  # the same id: executed at most once, however often it arrives

    def on_clock(self, tick: ClockTicked) -> Awaitable[None] | None:
        """Resend the legs whose retry is due, and ask for the status of the children whose deadline
        passed. A plain function: on most ticks nothing is due, and the tick costs no coroutine."""
        now = tick.ts
        if not (self._retries.pending(now) or self._deadlines.pending(now)):
            return None
        return self._timers_due(now)

    async def _timers_due(self, now: int) -> None:
        for due, leg in self._retries.due(now):
            if leg.status == "retrying" and leg.due_ns == due:
                await self._send(leg)
        for due, leg in self._deadlines.due(now):
            if leg.status == "sent" and leg.deadline_ns == due:
                await self._query(leg, now)

    async def _query(self, leg: LegState, now: int) -> None:
        if leg.queries >= self.params.max_status_queries:
            log.warning("router: %s gave no final answer to %s", leg.venue, leg.child_id)
            self._legs.pop(leg.child_id, None)
            reason = f"no final answer after {leg.queries} status queries"
            await self._leg_failed(leg, reason, None)
            return
        leg.queries += 1
        self._arm_deadline(leg, now)
        await self.emit(
            self.make(
                QueryStatus,
                cause=leg.child,
                venue=leg.venue,
                instruction_id=leg.child_id,
            )
        )

    # --- completion ---------------------------------------------------------------------------------

    async def _leg_filled(self, leg: LegState, event: Message) -> None:
        self._legs.pop(leg.child_id, None)
        leg.status = "filled"
        leg.route.filled_children.append(leg.child_id)
        await self._maybe_complete(leg.route, event)

    async def _leg_failed(self, leg: LegState, reason: str, event: Message | None) -> None:
        leg.status = "failed"
        leg.reason = reason
        await self._maybe_complete(leg.route, event or leg.child or leg.route.parent)

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
                legs=tuple(leg.outcome() for leg in route.legs),
            )
        )
