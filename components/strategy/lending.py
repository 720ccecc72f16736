"""Pure lending: every unit of capital supplied to one lending reserve (``pure_lending_usdt``).

Target: the aToken holds the deployable equity (equity minus withdrawals owed) in the asset; the wallet
holds what is owed to investors. Deposits are supplied, withdrawals withdrawn 1:1 and paid out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from basis.bus import instruments
from basis.bus.messages import AnyAction, Supply, Withdraw

from .base import Strategy
from .params import LendingParams, StrategyParams
from .view import Target, View

if TYPE_CHECKING:
    from basis.configs.models import ModeConfig


class PureLendingStrategy(Strategy[LendingParams]):
    """Supplies the share-class asset to the lending venue."""

    params_type: ClassVar[type[StrategyParams]] = LendingParams

    @classmethod
    def mode_fields(cls, mode: ModeConfig) -> dict[str, Any]:
        fields = super().mode_fields(mode)
        fields["asset"] = mode.asset
        if mode.venues.lending is not None:
            fields["venue"] = mode.venues.lending
        return fields

    @property
    def supplied_key(self) -> str:
        return instruments.a_token(self.params.asset, self.params.venue)

    @property
    def wallet_key(self) -> str:
        return instruments.token(self.params.wallet, self.params.asset)

    def target(self, view: View, deployable_usd: float) -> Target:
        supplied = deployable_usd / view.price(self.params.asset)
        positions = {self.supplied_key: supplied, self.wallet_key: view.withdrawing}
        return Target(positions=positions, legs=frozenset({self.supplied_key}))

    def deployed_usd(self, view: View) -> float:
        return view.qty(self.supplied_key) * view.price(self.params.asset)

    def plan(self, view: View, target: Target, *, reduce_only: bool) -> list[AnyAction]:
        asset, price = self.params.asset, view.price(self.params.asset)
        minimum = self.params.min_order_usd / price
        gap = target.get(self.supplied_key) - view.qty(self.supplied_key)
        if gap < 0 and -gap >= minimum:
            return [Withdraw(asset=asset, amount=min(-gap, view.qty(self.supplied_key)))]
        if gap > 0 and not reduce_only:
            free = view.qty(self.wallet_key) - target.get(self.wallet_key)
            amount = min(gap, free)
            if amount >= minimum:
                return [Supply(asset=asset, amount=amount)]
        return []
