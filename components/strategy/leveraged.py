"""Leveraged liquid staking (``eth_leveraged``): staked ETH as AAVE collateral, WETH borrowed against it
and staked again, built and unwound in one atomic flash-loan bundle.

Sizing, with equity ``E`` and ``target_ltv`` ``t``: leverage ``L = 1 / (1 − t)``; the collateral is ``E × L``
of ETH in the staking token, the debt ``E × (L − 1)`` WETH (``t = 0.8``: 5× collateral, 4× debt, health
factor = eMode liquidation threshold / t). The wallet keeps what is owed to investors in ETH.

Every move is one bundle sent to the bundle venue (the router routes it there):

* **lever up** (entry, a deposit, or debt below target): flash-borrow ``F`` WETH (the debt missing),
  stake ``F`` plus the wallet's free ETH (less, when the wallet has fronted gas), supply all the token minted, borrow ``F`` WETH, and the loan
  is repaid from the borrow. The first entry also sets the pool's eMode category first;
* **deleverage** (debt above target, a withdrawal, a risk override, an exit): flash-borrow ``R`` WETH
  (the excess debt), repay ``R``, withdraw enough of the token that selling it on the DEX returns ``R``
  plus the ETH owed to investors (with ``unwind_cost`` to spare for the pool's fee and slippage), sell
  it, and the loan is repaid from the sale. What the sale returns beyond the loan stays in the wallet
  (the next decision pays it out or stakes it again).

Either happens whole or not at all; a refused bundle changes nothing and the strategy decides again
(its cooldown after a rejection).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from basis.bus import instruments
from basis.bus.messages import AnyAction
from basis.components.pricing import REWARD_TOKENS

from .base import Strategy
from .bundles import BORROWED, deleverage, lever_fields, lever_up, sale_fields
from .params import LeveragedStakingParams, StrategyParams
from .view import Target, View

if TYPE_CHECKING:
    from basis.configs.models import ModeConfig


class LeveragedStakingStrategy(Strategy[LeveragedStakingParams]):
    """Holds staked ETH levered to ``target_ltv`` on the lending venue through atomic bundles."""

    params_type: ClassVar[type[StrategyParams]] = LeveragedStakingParams

    @classmethod
    def mode_fields(cls, mode: ModeConfig) -> dict[str, Any]:
        fields = super().mode_fields(mode)
        fields.update(lever_fields(mode), token=mode.lst_type, **sale_fields(mode.slippage_bps))
        if mode.lst_type is not None:
            fields["dust_tokens"] = REWARD_TOKENS.get(str(mode.lst_type), ())
        return {k: v for k, v in fields.items() if v is not None}

    # --- keys --------------------------------------------------------------------------------------

    @property
    def collateral_key(self) -> str:
        return instruments.a_token(self.params.token, self.params.lending_venue)

    @property
    def debt_key(self) -> str:
        return instruments.debt_token(BORROWED, self.params.lending_venue)

    @property
    def eth_key(self) -> str:
        return instruments.token(self.params.wallet, "ETH")

    # --- hooks -------------------------------------------------------------------------------------

    def target(self, view: View, deployable_usd: float) -> Target:
        leverage = self.params.leverage
        positions = {
            self.collateral_key: deployable_usd * leverage / view.price(self.params.token),
            self.debt_key: deployable_usd * (leverage - 1.0) / view.price(BORROWED),
            self.eth_key: view.withdrawing,
        }
        return Target(positions=positions, legs=frozenset({self.collateral_key, self.debt_key}))

    def deployed_usd(self, view: View) -> float:
        collateral = view.qty(self.collateral_key) * view.price(self.params.token)
        return collateral - view.qty(self.debt_key) * view.price(BORROWED)

    def plan(self, view: View, target: Target, *, reduce_only: bool) -> list[AnyAction]:
        eth_price = view.price(BORROWED)
        minimum = self.params.min_order_usd / eth_price
        excess = view.qty(self.debt_key) - target.get(self.debt_key)
        # what investors are owed beyond the wallet (gas the wallet fronted included, but only then:
        # fronted gas alone is made up by the next lever-up, never by selling collateral for it)
        owed = max(0.0, target.get(self.eth_key) - view.qty(self.eth_key)) if view.withdrawing > 0 else 0.0
        if excess >= minimum or (owed >= minimum and view.qty(self.collateral_key) > 0.0):
            bundle = deleverage(
                self.params,
                view.prices.lst_rate(self.params.token),
                collateral=view.qty(self.collateral_key),
                repay=max(excess, 0.0),
                owed=owed,
                fronted=-view.qty(self.eth_key),  # the repay is funded even when gas was fronted
                full=target.get(self.debt_key) <= 0.0,
            )
            return [bundle]
        if reduce_only:
            return []
        borrow = max(0.0, -excess)
        free = view.qty(self.eth_key) - target.get(self.eth_key)  # < 0: gas the wallet has fronted
        if borrow + free >= minimum:
            rate = view.prices.lst_rate(self.params.token)
            first = view.qty(self.collateral_key) <= 0.0
            return [lever_up(self.params, rate, borrow=borrow, free=free, first=first)]
        return []
