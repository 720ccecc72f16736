"""The gateway port shared by simulated, testnet and live venues, and the instruction lifecycle they share.

A gateway is the one component that speaks for a venue on the bus. It consumes the venue's instructions
on ``cmd.<venue>.*`` and publishes, for that venue:

* ``InstructionAccepted`` then ``InstructionFilled`` (every balance change in ``changes``, see
  docs/accounting.md), or ``InstructionRejected`` with a stable ``reason`` (:mod:`basis.venues.errors`);
* ``Settled`` for periodic cash flows (funding, lending interest, borrow cost, ...);
* ``TransferCompleted`` for the arrival side of a transfer it sent;
* ``Liquidated`` when the venue liquidates the account.

Each instruction gets exactly one final answer (filled, cancelled, expired or rejected; fills before it
may be partial, ``InstructionFilled.remaining`` > 0), and is executed at most once: the gateway claims
the instruction's idempotency key in its execution journal (:mod:`basis.bus.journal`) before executing
it and records the messages it answered with. An instruction whose key is claimed already (a
redelivery, or a delivery to a gateway restarted since) is answered with an ``InstructionStatus``
carrying those messages, and nothing is executed; so is a ``QueryStatus`` on ``cmd.<venue>.status``.
A key claimed with no outcome recorded (the gateway stopped while executing it) is answered by
:meth:`GatewayComponent.recover`: a live gateway asks the venue by client order id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.component import Component
from basis.bus.ids import IdFactory
from basis.bus.journal import ExecutionJournal, MemoryJournal, Recorded
from basis.bus.messages import (
    Fill,
    Instruction,
    InstructionAccepted,
    InstructionCancelled,
    InstructionExpired,
    InstructionFilled,
    InstructionRejected,
    InstructionState,
    InstructionStatus,
    Liquidated,
    Message,
    Outcome,
    QueryStatus,
    TransactionReverted,
)

from .errors import InternalError, OutcomeUnknown, UnsupportedInstruction, VenueError
from .port import VenueGateway as VenueGateway  # a Protocol: defined in a module mypyc does not compile

log = logging.getLogger("basis.venues")

INSTRUCTION_TYPES: tuple[type[Message], ...] = (Instruction, QueryStatus)
_STATE_OF: dict[type[Message], InstructionState] = {
    InstructionAccepted: "accepted",
    InstructionRejected: "rejected",
    TransactionReverted: "rejected",
    InstructionCancelled: "cancelled",
    InstructionExpired: "expired",
}


@dataclass(frozen=True, slots=True)
class Execution:
    """The outcome of an instruction the venue carried out: what ``InstructionFilled`` reports."""

    changes: tuple[Fill, ...]
    fee: float = 0.0
    fee_asset: str = ""
    gas_eth: float = 0.0


def state_of(outcomes: tuple[Message, ...]) -> InstructionState:
    """The state an instruction is in after ``outcomes`` (its messages so far, in order)."""
    for message in reversed(outcomes):
        if isinstance(message, InstructionFilled):
            return "partially_filled" if message.remaining > 0.0 else "filled"
        state = _STATE_OF.get(type(message))
        if state is not None:
            return state
    return "executing"


class GatewayComponent(Component):
    """Base of gateways: subscribes to ``cmd.<venue>.*`` and runs the instruction lifecycle.

    Subclasses implement :meth:`execute` (raise a :class:`VenueError` to reject; call :meth:`fill` to
    answer) and subscribe to what else they need in :meth:`on_start_gateway`. ``journal`` is a
    :class:`~basis.bus.journal.MemoryJournal` unless the process that runs the gateway gives it a durable
    one before :meth:`start`.
    """

    def __init__(self, bus: Bus, clock: Clock, ids: IdFactory, *, venue: str, name: str = "") -> None:
        super().__init__(bus, clock, ids)
        subjects.token(venue)
        self.venue = venue
        self.name = name or f"gateway-{venue}"
        self.journal: ExecutionJournal = MemoryJournal()
        self.executed = 0
        """Instructions executed (not answered again from the journal) since the gateway started."""
        self._answering: Instruction | None = None
        self._outcomes: list[Message] = []
        self._own: set[str] = set()
        self._own_types: tuple[type[Message], ...] = ()

    async def on_start(self) -> None:
        await self.bus.subscribe(
            subjects.pattern(subjects.CMD, self.venue, "*"), self.handle, types=INSTRUCTION_TYPES
        )
        await self.on_start_gateway()

    async def on_start_gateway(self) -> None:
        """Subscribe to market data and events."""

    def balances(self) -> dict[str, float]:
        return {}

    # --- lifecycle ---------------------------------------------------------------------------------

    async def handle(self, instruction: Instruction | QueryStatus) -> None:
        if instruction.venue != self.venue:
            return
        if isinstance(instruction, QueryStatus):
            await self.answer_status(instruction)
            return
        key = instruction.key
        recorded = await self.journal.claim(key)
        if recorded is not None:
            await self.answer_again(instruction, recorded)
            return
        self.executed += 1
        self._answering, self._outcomes = instruction, []
        try:
            await self.execute(instruction)
        except VenueError as exc:
            log.info("%s rejected %s %s: %s", self.venue, instruction.kind, instruction.id, exc)
            await self.reject(instruction, exc)
        except Exception as exc:
            await self.reject(instruction, InternalError(f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            outcomes, self._answering, self._outcomes = self._outcomes, None, []
            await self.journal.complete(key, outcomes)

    async def answer_again(self, instruction: Instruction, recorded: Recorded) -> None:
        """Answer a key executed before with its status and the messages recorded for it, or
        :meth:`recover` when its execution never finished (claimed, no outcome, and this gateway is not
        executing it: it stopped in between)."""
        if self._was_interrupted(instruction.key, recorded):
            await self.recover(instruction)
            return
        log.info("%s: %s %s executed before, answered again", self.venue, instruction.kind, instruction.key)
        await self.emit(self.status(instruction, instruction.id, recorded))

    async def answer_status(self, query: QueryStatus) -> None:
        """Answer a status query from the journal (``unknown``: the instruction never arrived here; an
        execution that was interrupted is answered as :meth:`recover` answers it)."""
        key = query.instruction_id
        recorded = await self.journal.lookup(key)
        if recorded is not None and self._was_interrupted(key, recorded):
            recorded = Recorded((await self._interrupted(query, key),))
        await self.emit(self.status(query, key, recorded))

    def _was_interrupted(self, key: str, recorded: Recorded) -> bool:
        """Claimed with no outcome, and not being executed now: the gateway stopped while executing it."""
        answering = self._answering
        return not recorded.outcomes and (answering is None or answering.key != key)

    async def _interrupted(self, cause: Message, key: str) -> InstructionRejected:
        """The answer to a key claimed and never answered (the gateway stopped while executing it),
        recorded so that every later question about it gets the same answer."""
        log.warning("%s: %s was interrupted, outcome unknown", self.venue, key)
        rejection = self.rejection(cause, key, OutcomeUnknown(f"{key}: interrupted before its outcome"))
        await self.journal.complete(key, (rejection,))
        return rejection

    def status(self, cause: Message, instruction_id: str, recorded: Recorded | None) -> InstructionStatus:
        state: InstructionState = "unknown"
        outcomes: tuple[Outcome, ...] = ()
        if recorded is not None:
            outcomes = tuple(m for m in recorded.outcomes if isinstance(m, Outcome))
            state = state_of(recorded.outcomes)
        return self.make(
            InstructionStatus,
            cause=cause,
            instruction_id=instruction_id,
            venue=self.venue,
            state=state,
            outcomes=outcomes,
        )

    async def recover(self, instruction: Instruction) -> None:
        """Answer an instruction whose execution was interrupted (its key claimed, no outcome recorded).

        A simulated venue lost the state of that execution with its process, so it cannot tell whether
        the instruction took effect: it rejects it as ``outcome_unknown`` and the sender reconciles from
        the balances. A live gateway overrides this with a status query by client order id.
        """
        await self.emit(await self._interrupted(instruction, instruction.key))

    async def execute(self, instruction: Instruction) -> None:
        raise self.unsupported(instruction)

    def unsupported(self, instruction: Instruction) -> UnsupportedInstruction:
        """The rejection of an action this venue does not carry out."""
        return UnsupportedInstruction(f"{self.venue} does not handle {instruction.kind}")

    async def accept(self, instruction: Instruction) -> None:
        await self.emit(
            self.make(InstructionAccepted, cause=instruction, instruction_id=instruction.id, venue=self.venue)
        )

    async def fill(self, instruction: Instruction, execution: Execution) -> None:
        """Publish accepted then filled for an instruction carried out at once."""
        await self.accept(instruction)
        await self.filled(instruction, execution)

    async def liquidated(
        self, cause: Message, changes: tuple[Fill, ...], penalty: float, penalty_asset: str
    ) -> None:
        """Publish a ``Liquidated`` event caused by ``cause`` (a price or a clock tick)."""
        await self.emit(
            self.make(
                Liquidated,
                cause=cause,
                venue=self.venue,
                changes=changes,
                penalty=penalty,
                penalty_asset=penalty_asset,
            )
        )

    async def filled(self, instruction: Instruction, execution: Execution) -> None:
        """Publish ``InstructionFilled`` only (after :meth:`accept` and anything booked in between)."""
        await self.emit(
            self.make(
                InstructionFilled,
                cause=instruction,
                instruction_id=instruction.id,
                venue=self.venue,
                changes=execution.changes,
                fee=execution.fee,
                fee_asset=execution.fee_asset,
                gas_eth=execution.gas_eth,
            )
        )

    async def reject(self, instruction: Instruction, error: VenueError) -> None:
        await self.emit(self.rejection(instruction, instruction.id, error))

    def rejection(self, cause: Message, instruction_id: str, error: VenueError) -> InstructionRejected:
        """The ``InstructionRejected`` of ``instruction_id`` for ``error``, caused by ``cause``."""
        return self.make(
            InstructionRejected,
            cause=cause,
            instruction_id=instruction_id,
            venue=self.venue,
            reason=error.reason,
            transient=error.transient,
            detail=error.detail,
            step=error.step,
        )

    # --- own events --------------------------------------------------------------------------------

    def track_own_events(self, *types: type[Message]) -> None:
        """Remember the ids of the messages of ``types`` this gateway publishes, so :meth:`is_own` can skip
        them when they come back on a subscription to those types (the gateway already applied them)."""
        self._own_types = types

    async def emit(self, message: Message) -> None:
        if self._own_types and isinstance(message, self._own_types):
            self._own.add(message.id)
        answering = self._answering
        if answering is not None and message.causation_id == answering.id:
            self._outcomes.append(message)
        await super().emit(message)

    def is_own(self, message: Message) -> bool:
        """True (once) for a message this gateway published."""
        if message.id in self._own:
            self._own.discard(message.id)
            return True
        return False
