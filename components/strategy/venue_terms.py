"""Venue terms: what moving funds into, out of or through each venue costs and takes, read from a run's
venue configuration. Pure values, no I/O.

For planning (:mod:`.transfers`), a venue is one of four kinds: ``cex`` (an exchange account), ``lending``
(the lending pool), ``staking`` (the liquid staking token the wallet holds, counted at the venue that
issues it: ether.fi's weETH, Lido's wstETH) and ``wallet`` (the operator's on-chain wallet); a ``dex``
converts. Each venue's terms give the gas units of its on-chain operations, a CEX's deposit and
withdrawal fees (flat, per asset) and delays, a staking venue's token and unstake queue, and the DEX's
fee on its pools of liquid staking tokens.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, TypeVar

if TYPE_CHECKING:
    from basis.configs.models.base import VenueName
    from basis.configs.models.venue import TransferTerms
    from basis.configs.run import ResolvedVenue

WALLET = "wallet"
"""The operator's on-chain wallet, as positions and transfers name it."""
FEE_TIER_PER_BPS = 100
"""A DEX fee tier is in hundredths of a basis point (100 = 1 bp)."""

PlanningKind = Literal["cex", "lending", "staking", "dex", "wallet"]

V = TypeVar("V")


def frozen_copy(mapping: Mapping[str, V]) -> Mapping[str, V]:
    """A read-only copy of ``mapping``."""
    return MappingProxyType(dict(mapping))


def check_finite(name: str, value: float, *, minimum: float | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is finite (and at least ``minimum`` when given)."""
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" and >= {minimum:g}"
        raise ValueError(f"{name} must be finite{bound}, got {value!r}")


@dataclass(frozen=True)
class VenueTerms:
    """What moving funds into, out of or through one venue costs and takes."""

    kind: PlanningKind
    gas: Mapping[str, int] = field(default_factory=dict)
    """Gas units per on-chain operation (``withdraw``, ``supply``, ``stake``, ``swap``, ``transfer``...)."""
    deposit_delay_s: float = 0.0
    withdrawal_delay_s: float = 0.0
    """A CEX's withdrawal processing; a staking venue's unstake queue."""
    deposit_fees: Mapping[str, float] = field(default_factory=dict)
    """Flat fee per deposit, per asset, in units of that asset."""
    withdrawal_fees: Mapping[str, float] = field(default_factory=dict)
    """Flat fee per withdrawal, per asset, in units of that asset."""
    lst: str = ""
    """Staking venues: the liquid staking token they issue."""
    swap_fee_bps: float = 0.0
    """DEX: the fee of the pools of liquid staking tokens against WETH."""

    def __post_init__(self) -> None:
        for name in ("deposit_delay_s", "withdrawal_delay_s", "swap_fee_bps"):
            check_finite(name, getattr(self, name), minimum=0.0)
        if self.kind == "staking" and not self.lst:
            raise ValueError("a staking venue needs its lst")
        object.__setattr__(self, "gas", frozen_copy(self.gas))
        object.__setattr__(self, "deposit_fees", frozen_copy(self.deposit_fees))
        object.__setattr__(self, "withdrawal_fees", frozen_copy(self.withdrawal_fees))


def venue_terms(venues: Mapping[VenueName, ResolvedVenue]) -> dict[str, VenueTerms]:
    """The terms of a run's venues: CEX fees and delays from ``transfers``, gas units of the lending,
    staking and DEX venues, the staking venues' token and unstake queue, the DEX's LST pool fee tier, and
    the RPC venue's gas as the wallet's. Flash-loan and middleware venues move no funds between venues and
    are left out."""
    terms: dict[str, VenueTerms] = {}
    for name, resolved in venues.items():
        config = resolved.config
        if config.kind == "cex":
            terms[name] = _moving("cex", config.transfers)
        elif config.kind == "lending":
            terms[name] = _moving("lending", config.transfers, config.gas.items())
        elif config.kind == "staking":
            terms[name] = _moving("staking", config.transfers, config.gas.items(), lst=str(config.lst))
        elif config.kind == "dex":
            fee_bps = config.lst_fee_tier / FEE_TIER_PER_BPS
            terms[name] = VenueTerms("dex", gas=_gas(config.gas.items()), swap_fee_bps=fee_bps)
        elif config.kind == "rpc":
            terms[WALLET] = VenueTerms("wallet", gas=_gas(config.gas.items()))
    return terms


def _gas(units: Iterable[tuple[str, int]]) -> dict[str, int]:
    return {str(operation): int(n) for operation, n in units}


def _moving(
    kind: PlanningKind, transfers: TransferTerms, gas: Iterable[tuple[str, int]] = (), lst: str = ""
) -> VenueTerms:
    return VenueTerms(
        kind,
        gas=_gas(gas),
        deposit_delay_s=float(transfers.deposit_delay_seconds),
        withdrawal_delay_s=float(transfers.withdrawal_delay_seconds),
        deposit_fees=transfers.deposit_fee,
        withdrawal_fees=transfers.withdrawal_fee,
        lst=lst,
    )
