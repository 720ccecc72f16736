"""Investor withdrawals the strategy owes: requested, then paid out from the wallet once the cash is there."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Withdrawal:
    request_id: str
    """Id of the ``InvestorWithdrawal``; the payout carries it as its correlation id."""
    amount: float
    """Share-class units still owed."""
    payout_id: str = ""
    """The payout transfer in flight, if any."""


class WithdrawalQueue:
    """Withdrawals in request order."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[Withdrawal] = []

    def request(self, request_id: str, amount: float) -> None:
        if amount > 0 and all(w.request_id != request_id for w in self._items):
            self._items.append(Withdrawal(request_id, amount))

    @property
    def owed(self) -> float:
        """Share-class units requested and not yet paid."""
        if not self._items:
            return 0.0  # the common case, without a generator
        # a float start: nothing owed is 0.0 (not sum()'s int 0), as compiled code (mypyc) returns it
        return sum((w.amount for w in self._items), 0.0)

    def unpaid(self) -> list[Withdrawal]:
        """Withdrawals without a payout in flight, oldest first."""
        return [w for w in self._items if not w.payout_id]

    def paying(self, withdrawal: Withdrawal, payout_id: str) -> None:
        withdrawal.payout_id = payout_id

    def by_payout(self, payout_id: str) -> Withdrawal | None:
        return next((w for w in self._items if w.payout_id == payout_id), None)

    def paid(self, payout_id: str) -> Withdrawal | None:
        """The payout went out: the withdrawal is settled."""
        withdrawal = self.by_payout(payout_id)
        if withdrawal is not None:
            self._items.remove(withdrawal)
        return withdrawal

    def failed(self, payout_id: str) -> None:
        """The payout was refused: the withdrawal is owed again."""
        withdrawal = self.by_payout(payout_id)
        if withdrawal is not None:
            withdrawal.payout_id = ""

    def __len__(self) -> int:
        return len(self._items)
