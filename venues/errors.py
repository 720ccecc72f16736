"""Why a venue refuses an instruction: one exception hierarchy, one stable reason string per class.

A gateway (simulated, testnet or live) raises one of these while handling an instruction and publishes
``InstructionRejected(reason=error.reason, transient=error.transient, detail=error.detail,
step=error.step)``. ``reason`` is a stable machine-readable code (strategies and routers match on it);
``detail`` is the human explanation (what was asked, what the venue had), so the log says why; ``step``
is the index of the bundle step that failed, for a bundle. ``transient`` says whether sending the same instruction again later may succeed
without anything else changing (rate limits, outages), as opposed to an instruction the venue will keep
refusing until the account or the market changes.

    VenueError
    ├── InstructionError                 (transient=False)
    │   ├── UnsupportedInstruction      unsupported_instruction
    │   ├── UnknownInstrument           unknown_instrument
    │   ├── UnknownDestination          unknown_destination
    │   ├── InvalidQuantity             invalid_quantity
    │   ├── NoPrice                     no_price
    │   ├── NoMarketData                no_market_data
    │   ├── NoGasPrice                  no_gas_price
    │   ├── InsufficientBalance         insufficient_balance
    │   ├── InsufficientMargin          insufficient_margin
    │   ├── ReduceOnlyViolation         reduce_only
    │   ├── ExceedsLtv                  exceeds_ltv
    │   ├── EModeViolation              emode_violation
    │   ├── SlippageExceeded            slippage_exceeded
    │   └── FlashLoanUnpaid             flash_loan_unpaid
    ├── TransientError                   (transient=True)
    │   ├── VenueUnavailable            venue_unavailable
    │   ├── RateLimited                 rate_limited
    │   └── VenueTimeout                timeout
    ├── OutcomeUnknown                  outcome_unknown (execution interrupted; reconcile, do not resend)
    └── InternalError                   internal_error (a bug in the gateway; not transient)
"""

from __future__ import annotations

from typing import ClassVar


class VenueError(Exception):
    """Base of every venue rejection."""

    reason: ClassVar[str] = "venue_error"
    transient: ClassVar[bool] = False

    def __init__(self, detail: str = "", *, step: int | None = None) -> None:
        super().__init__(detail or self.reason)
        self.detail = detail
        self.step = step
        """The index of the bundle step that failed (None outside a bundle)."""

    def in_step(self, index: int, what: str) -> VenueError:
        """This error, as the failure of step ``index`` (``what`` it was) of a bundle."""
        self.step = index
        self.detail = f"step {index} ({what}): {self.detail or self.reason}"
        self.args = (self.detail,)
        return self


class InstructionError(VenueError):
    """The venue refuses this instruction in the current state of the account or market."""

    reason = "instruction_error"


class UnsupportedInstruction(InstructionError):
    reason = "unsupported_instruction"


class UnknownInstrument(InstructionError):
    """Symbol, pair, reserve or token the venue does not list (or is not configured to trade)."""

    reason = "unknown_instrument"


class UnknownDestination(InstructionError):
    reason = "unknown_destination"


class InvalidQuantity(InstructionError):
    """Quantity or amount not strictly positive and finite."""

    reason = "invalid_quantity"


class NoPrice(InstructionError):
    """No price for the instrument yet (no bar, oracle price or exchange rate seen)."""

    reason = "no_price"


class NoMarketData(InstructionError):
    """Market state the venue needs is missing (e.g. no reserve state for a lending reserve yet)."""

    reason = "no_market_data"


class NoGasPrice(InstructionError):
    reason = "no_gas_price"


class InsufficientBalance(InstructionError):
    reason = "insufficient_balance"


class InsufficientMargin(InstructionError):
    reason = "insufficient_margin"


class ReduceOnlyViolation(InstructionError):
    reason = "reduce_only"


class ExceedsLtv(InstructionError):
    """A borrow or withdrawal would push debt above the collateral's loan-to-value limit."""

    reason = "exceeds_ltv"


class EModeViolation(InstructionError):
    """Borrowing an asset outside the account's efficiency-mode category."""

    reason = "emode_violation"


class SlippageExceeded(InstructionError):
    reason = "slippage_exceeded"


class FlashLoanUnpaid(InstructionError):
    """The steps of a bundle did not leave what its flash loan must be repaid with."""

    reason = "flash_loan_unpaid"


class TransientError(VenueError):
    """Retrying the same instruction later may succeed."""

    reason = "transient_error"
    transient = True


class VenueUnavailable(TransientError):
    reason = "venue_unavailable"


class RateLimited(TransientError):
    reason = "rate_limited"


class VenueTimeout(TransientError):
    reason = "timeout"


class OutcomeUnknown(VenueError):
    """The gateway stopped while executing the instruction and cannot tell whether it took effect: the
    sender reconciles from the balances instead of sending it again."""

    reason = "outcome_unknown"


class InternalError(VenueError):
    """The gateway failed while handling the instruction (a bug, not a venue decision)."""

    reason = "internal_error"


def _leaves(cls: type[VenueError]) -> list[type[VenueError]]:
    out: list[type[VenueError]] = [cls]
    for sub in cls.__subclasses__():
        out += _leaves(sub)
    return out


REASONS: dict[str, type[VenueError]] = {c.reason: c for c in _leaves(VenueError)}
"""Every reason string -> its exception class."""


def error_for(reason: str, detail: str = "") -> VenueError:
    """The exception for a reason string (``VenueError`` for an unknown one)."""
    return REASONS.get(reason, VenueError)(detail)
