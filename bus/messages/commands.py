"""Commands: imperative messages published on ``cmd.<target>.<kind>``.

An :class:`Instruction` carries one typed action (:mod:`.actions`) to one venue, or to the execution
router (``venue="router"``), which picks the venue by the action's type. Its id is its idempotency key:
a gateway executes a key at most once, however often the instruction is delivered, and answers a
duplicate with the original outcome; venues that take a client order id get this one.
"""

from __future__ import annotations

from .actions import AnyAction
from .base import Message


class Instruction(Message, frozen=True, kw_only=True):
    """Do ``action`` on ``venue``.

    ``route`` overrides the action type the router routes by (empty: the default of the action's type);
    ``deadline_ns`` is the time by which the sender expects a final outcome (0: none). Past it the sender
    asks the venue for the instruction's status instead of waiting on.
    """

    venue: str
    action: AnyAction
    route: str = ""
    deadline_ns: int = 0

    @property
    def key(self) -> str:
        """The idempotency key (the client order id): the instruction's id."""
        return self.id

    @property
    def kind(self) -> str:
        """The action's kind: the last token of the instruction's subject."""
        return self.action.kind

    def describe(self) -> str:
        return f"{self.action.describe()}@{self.venue}"


class QueryStatus(Message, frozen=True, kw_only=True):
    """Ask ``venue`` where ``instruction_id`` stands; it answers ``InstructionStatus`` on
    ``evt.<venue>.status``. The router asks when an instruction's deadline passes without a final answer."""

    venue: str
    instruction_id: str


class InvestorDeposit(Message, frozen=True, kw_only=True):
    """New capital in the share class currency."""

    amount: float
    asset: str


class InvestorWithdrawal(Message, frozen=True, kw_only=True):
    """Capital returned to investors, in the share class currency; positions unwind 1:1."""

    amount: float
    asset: str


Command = Instruction | QueryStatus | InvestorDeposit | InvestorWithdrawal
