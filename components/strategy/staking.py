"""Liquid staking: every unit of ETH capital staked into one liquid staking token (``eth_staking_only``).

Target: the wallet holds the deployable equity as the staking venue's token (weETH through ether.fi,
wstETH through Lido), valued at the protocol's exchange rate, and what is owed to investors as ETH.
Deposits are staked; withdrawals are unstaked 1:1 through the protocol's withdrawal queue (the ETH is
in transit until the queue pays it, then paid out). The staking return accrues through the exchange
rate; the reward tokens of the staking token (weETH: EIGEN, ETHFI) are sold for ETH on Uniswap once
above the dust threshold (``sell_dust``), and the ETH is staked with the next rebalance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from basis.bus import instruments
from basis.bus.messages import AnyAction, Stake, Unstake
from basis.components.pricing import REWARD_TOKENS

from .base import Strategy, Trigger
from .params import StakingParams, StrategyParams
from .view import Target, View

if TYPE_CHECKING:
    from basis.configs.models import ModeConfig


class StakingStrategy(Strategy[StakingParams]):
    """Stakes the share-class ETH into the mode's liquid staking token."""

    params_type: ClassVar[type[StrategyParams]] = StakingParams

    @classmethod
    def mode_fields(cls, mode: ModeConfig) -> dict[str, Any]:
        fields = super().mode_fields(mode)
        if mode.lst_type is not None:
            fields["token"] = mode.lst_type
            fields["dust_tokens"] = REWARD_TOKENS.get(str(mode.lst_type), ())
        return fields

    @property
    def staked_key(self) -> str:
        return instruments.token(self.params.wallet, self.params.token)

    @property
    def eth_key(self) -> str:
        return instruments.token(self.params.wallet, "ETH")

    def target(self, view: View, deployable_usd: float) -> Target:
        staked = deployable_usd / view.price(self.params.token)
        positions = {self.staked_key: staked, self.eth_key: view.withdrawing}
        return Target(positions=positions, legs=frozenset({self.staked_key}))

    def deployed_usd(self, view: View) -> float:
        return view.qty(self.staked_key) * view.price(self.params.token)

    def rebalance_triggers(self, view: View) -> list[Trigger]:
        """ETH left idle in the wallet (the proceeds of a dust sale) worth more than the dust threshold of
        equity is staked, well before it would reach the deviation threshold."""
        idle = view.qty(self.eth_key) - view.withdrawing
        value = idle * view.price("ETH")
        if value >= max(self.params.dust_threshold * view.equity_usd, self.params.min_order_usd):
            return [Trigger("idle", f"idle ETH {idle:g} above the dust threshold")]
        return []

    def plan(self, view: View, target: Target, *, reduce_only: bool) -> list[AnyAction]:
        token = self.params.token
        token_price, eth_price = view.price(token), view.price("ETH")
        gap = target.get(self.staked_key) - view.qty(self.staked_key)
        if gap < 0 and -gap * token_price >= self.params.min_order_usd:
            return [Unstake(token=token, amount=min(-gap, view.qty(self.staked_key)))]
        if gap > 0 and not reduce_only:
            free = view.qty(self.eth_key) - target.get(self.eth_key)
            amount = min(gap * token_price / eth_price, free)  # ETH to stake
            if amount * eth_price >= self.params.min_order_usd:
                return [Stake(token=token, amount=amount)]
        return []
