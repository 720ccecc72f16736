"""Commands: imperative instructions published on ``cmd.<target>.<kind>``."""

from __future__ import annotations

from typing import Literal, get_args

import msgspec

from .base import Message

Side = Literal["buy", "sell"]


class Instruction(Message, frozen=True, kw_only=True):
    """An instruction for one venue. ``venue`` is the target; the router may fill it from the action map."""

    venue: str
    action: str = ""


class SpotTrade(Instruction, frozen=True, kw_only=True):
    symbol: str
    side: Side
    quantity: float


class PerpTrade(Instruction, frozen=True, kw_only=True):
    symbol: str
    side: Side
    quantity: float
    reduce_only: bool = False


class Supply(Instruction, frozen=True, kw_only=True):
    asset: str
    amount: float


class Withdraw(Instruction, frozen=True, kw_only=True):
    asset: str
    amount: float


class Borrow(Instruction, frozen=True, kw_only=True):
    asset: str
    amount: float


class Repay(Instruction, frozen=True, kw_only=True):
    asset: str
    amount: float


class Stake(Instruction, frozen=True, kw_only=True):
    """Stake ``amount`` ETH and receive the venue's liquid staking token."""

    token: str
    amount: float


class Unstake(Instruction, frozen=True, kw_only=True):
    """Redeem ``amount`` of a liquid staking token for ETH."""

    token: str
    amount: float


class Swap(Instruction, frozen=True, kw_only=True):
    sell_asset: str
    buy_asset: str
    amount: float
    max_slippage_bps: float = 50.0


class Transfer(Instruction, frozen=True, kw_only=True):
    """Move ``amount`` of ``asset`` between accounts (wallet ↔ CEX, CEX ↔ CEX)."""

    source: str
    destination: str
    asset: str
    amount: float


class FlashLoan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    venue: str
    asset: str
    amount: float


Step = Supply | Withdraw | Borrow | Repay | Stake | Unstake | Swap


class AtomicBundle(Instruction, frozen=True, kw_only=True):
    """Steps executed in one transaction (e.g. through Instadapp), optionally inside a flash loan."""

    steps: tuple[Step, ...]
    flash_loan: FlashLoan | None = None


class InvestorDeposit(Message, frozen=True, kw_only=True):
    """New capital in the share class currency."""

    amount: float
    asset: str


class InvestorWithdrawal(Message, frozen=True, kw_only=True):
    """Capital returned to investors, in the share class currency; positions unwind 1:1."""

    amount: float
    asset: str


VenueInstruction = (
    SpotTrade
    | PerpTrade
    | Supply
    | Withdraw
    | Borrow
    | Repay
    | Stake
    | Unstake
    | Swap
    | Transfer
    | AtomicBundle
)
Command = VenueInstruction | InvestorDeposit | InvestorWithdrawal
VENUE_INSTRUCTION_TYPES: tuple[type[Instruction], ...] = get_args(VenueInstruction)
"""Every instruction a venue (or the router) may be sent, for ``Bus.subscribe(types=...)``."""
