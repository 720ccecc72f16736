"""The gateway port shared by simulated, testnet and live venues, and the instruction lifecycle they share.

A gateway is the one component that speaks for a venue on the bus. It consumes the venue's instructions
on ``cmd.<venue>.*`` and publishes, for that venue:

* ``InstructionAccepted`` then ``InstructionFilled`` (every balance change in ``changes``, see
  docs/accounting.md), or ``InstructionRejected`` with a stable ``reason`` (:mod:`basis.venues.errors`);
* ``Settled`` for periodic cash flows (funding, lending interest, borrow cost, ...);
* ``TransferCompleted`` for the arrival side of a transfer it sent;
* ``Liquidated`` when the venue liquidates the account.

Each instruction gets exactly one final answer (filled or rejected); an instruction id seen before is
ignored (redelivery).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.component import Component
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    VENUE_INSTRUCTION_TYPES,
    Fill,
    InstructionAccepted,
    InstructionFilled,
    InstructionRejected,
    Liquidated,
    Message,
    VenueInstruction,
)

from .errors import InternalError, UnsupportedInstruction, VenueError
from .port import VenueGateway as VenueGateway  # a Protocol: defined in a module mypyc does not compile

log = logging.getLogger("basis.venues")

INSTRUCTION_TYPES = VENUE_INSTRUCTION_TYPES

_SEEN_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class Execution:
    """The outcome of an instruction the venue carried out: what ``InstructionFilled`` reports."""

    changes: tuple[Fill, ...]
    fee: float = 0.0
    fee_asset: str = ""
    gas_eth: float = 0.0


class GatewayComponent(Component):
    """Base of gateways: subscribes to ``cmd.<venue>.*`` and runs the instruction lifecycle.

    Subclasses implement :meth:`execute` (raise a :class:`VenueError` to reject; call :meth:`fill` to
    answer) and subscribe to what else they need in :meth:`on_start_gateway`.
    """

    def __init__(self, bus: Bus, clock: Clock, ids: IdFactory, *, venue: str, name: str = "") -> None:
        super().__init__(bus, clock, ids)
        subjects.token(venue)
        self.venue = venue
        self.name = name or f"gateway-{venue}"
        self._seen: OrderedDict[str, None] = OrderedDict()
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

    async def handle(self, instruction: VenueInstruction) -> None:
        if instruction.venue != self.venue or instruction.id in self._seen:
            return
        self._seen[instruction.id] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        try:
            await self.execute(instruction)
        except VenueError as exc:
            log.info("%s rejected %s %s: %s", self.venue, type(instruction).__name__, instruction.id, exc)
            await self.reject(instruction, exc)
        except Exception as exc:
            await self.reject(instruction, InternalError(f"{type(exc).__name__}: {exc}"))
            raise

    async def execute(self, instruction: VenueInstruction) -> None:
        raise UnsupportedInstruction(f"{self.venue} does not handle {type(instruction).__name__}")

    async def accept(self, instruction: VenueInstruction) -> None:
        await self.emit(
            self.make(InstructionAccepted, cause=instruction, instruction_id=instruction.id, venue=self.venue)
        )

    async def fill(self, instruction: VenueInstruction, execution: Execution) -> None:
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

    async def filled(self, instruction: VenueInstruction, execution: Execution) -> None:
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

    async def reject(self, instruction: VenueInstruction, error: VenueError) -> None:
        await self.emit(
            self.make(
                InstructionRejected,
                cause=instruction,
                instruction_id=instruction.id,
                venue=self.venue,
                reason=error.reason,
                transient=error.transient,
            )
        )

    # --- own events --------------------------------------------------------------------------------

    def track_own_events(self, *types: type[Message]) -> None:
        """Remember the ids of the messages of ``types`` this gateway publishes, so :meth:`is_own` can skip
        them when they come back on a subscription to those types (the gateway already applied them)."""
        self._own_types = types

    async def emit(self, message: Message) -> None:
        if self._own_types and isinstance(message, self._own_types):
            self._own.add(message.id)
        await super().emit(message)

    def is_own(self, message: Message) -> bool:
        """True (once) for a message this gateway published."""
        if message.id in self._own:
            self._own.discard(message.id)
            return True
        return False
