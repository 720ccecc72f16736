"""Action types: which venue (or venues, with weights) carries out each kind of instruction.

Every instruction sent to the router has an action type: its ``route`` field when set, otherwise the
default for the type of its action (:data:`DEFAULT_ACTIONS`). :class:`ActionMap` maps action types to weighted venues;
an action with several venues (``hedge``: the perp legs split by ``hedge_allocation``) is split into one
child instruction per venue with a positive weight, sized ``size × weight`` (weights normalised to sum
to 1). Actions in ``source_routed`` (``wallet_transfer``) go to the account the funds leave from, the
transfer's ``source``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from basis.bus import subjects
from basis.bus.messages import (
    Action,
    AtomicBundle,
    Borrow,
    Instruction,
    PerpTrade,
    Repay,
    SpotTrade,
    Stake,
    Supply,
    Swap,
    Transfer,
    Unstake,
    Withdraw,
)

ROUTER: Final = "router"
"""The ``venue`` that addresses an instruction to the router (published on ``cmd.router.<kind>``)."""

HEDGE, SPOT, LENDING, STAKING, FLASH_LOAN, SWAP, UNWIND, WALLET_TRANSFER = (
    "hedge",
    "spot",
    "lending",
    "staking",
    "flash_loan",
    "swap",
    "unwind",
    "wallet_transfer",
)

DEFAULT_ACTIONS: Final[dict[type[Action], str]] = {
    PerpTrade: HEDGE,
    SpotTrade: SPOT,
    Supply: LENDING,
    Withdraw: LENDING,
    Borrow: LENDING,
    Repay: LENDING,
    Stake: STAKING,
    Unstake: STAKING,
    Swap: SWAP,
    AtomicBundle: FLASH_LOAN,
    Transfer: WALLET_TRANSFER,
}
"""The action type of an instruction whose ``route`` field is empty."""

SIZE_FIELDS: Final[dict[type[Action], str]] = {
    PerpTrade: "quantity",
    SpotTrade: "quantity",
    Supply: "amount",
    Withdraw: "amount",
    Borrow: "amount",
    Repay: "amount",
    Stake: "amount",
    Unstake: "amount",
    Swap: "amount",
    Transfer: "amount",
}
"""The field of each action holding the size it may be split on (an atomic bundle cannot be split)."""


class RoutingError(ValueError):
    """An instruction the router cannot send anywhere; the message is the rejection reason."""


def action_of(instruction: Instruction) -> str:
    """The action type of ``instruction``."""
    if instruction.route:
        return instruction.route
    try:
        return DEFAULT_ACTIONS[type(instruction.action)]
    except KeyError:
        raise RoutingError(f"no action type for {instruction.kind}") from None


def size_of(instruction: Instruction) -> float | None:
    name = SIZE_FIELDS.get(type(instruction.action))
    return None if name is None else float(getattr(instruction.action, name))


@dataclass(frozen=True, slots=True)
class Leg:
    """One child instruction to send: the venue and the size (None: the parent's, unsplit)."""

    venue: str
    size: float | None


@dataclass(frozen=True, slots=True)
class ActionMap:
    """Action type → weighted venues, plus the actions routed to the transfer's source account."""

    venues: Mapping[str, Mapping[str, float]]
    source_routed: frozenset[str] = field(default_factory=lambda: frozenset({WALLET_TRANSFER}))

    def __post_init__(self) -> None:
        for action, weights in self.venues.items():
            if not weights:
                raise ValueError(f"action {action!r}: no venue configured")
            for venue, weight in weights.items():
                subjects.token(venue)
                if venue == ROUTER:
                    raise ValueError(f"action {action!r}: the router cannot route to itself")
                if not math.isfinite(weight) or weight < 0:
                    raise ValueError(f"action {action!r}: weight of {venue} must be >= 0, got {weight}")
            if sum(weights.values()) <= 0:
                raise ValueError(f"action {action!r}: every venue has weight 0")

    @classmethod
    def build(
        cls,
        *,
        hedge_allocation: Mapping[str, float] | None = None,
        spot: str | None = "binance",
        lending: str | None = "aave_v3",
        staking: str | None = None,
        flash_loan: str | None = None,
        swap: str | None = "uniswap",
        unwind: str | None = None,
    ) -> ActionMap:
        """The usual map: hedges split by ``hedge_allocation``, one venue for every other action."""
        venues: dict[str, dict[str, float]] = {}
        if hedge_allocation and any(w > 0 for w in hedge_allocation.values()):
            venues[HEDGE] = dict(hedge_allocation)
        singles = {
            SPOT: spot,
            LENDING: lending,
            STAKING: staking,
            FLASH_LOAN: flash_loan,
            SWAP: swap,
            UNWIND: unwind,
        }
        for action, venue in singles.items():
            if venue is not None:
                venues[action] = {venue: 1.0}
        return cls(venues=venues)

    def legs(self, instruction: Instruction) -> list[Leg]:
        """The child legs of ``instruction``; raises :class:`RoutingError` when there is no route."""
        action = action_of(instruction)
        if action in self.source_routed:
            source = getattr(instruction.action, "source", None)
            if not isinstance(source, str) or not source:
                raise RoutingError(f"action {action} needs a source account, {instruction.kind} has none")
            return [Leg(source, None)]
        weights = self.venues.get(action)
        if weights is None:
            raise RoutingError(f"no venue configured for action {action}")
        active = [(venue, w) for venue, w in weights.items() if w > 0]
        if len(active) == 1:
            return [Leg(active[0][0], None)]
        size = size_of(instruction)
        if size is None:
            raise RoutingError(f"{instruction.kind} cannot be split across {len(active)} venues")
        total = sum(w for _, w in active)
        scale = 1.0 if abs(total - 1.0) <= 1e-12 else 1.0 / total
        return [Leg(venue, size * (w * scale)) for venue, w in active]
