"""Orders for one step of the hedged staking modes toward their target: the basis planner
(:mod:`.basis_plan`) with the long leg staked in the wallet (:mod:`.hedged`).

The order of an entry follows from what each step needs, one step per decision: USDT to every exchange
first (margin, and the spot purchase on the spot venue); then the spot purchase and every venue's short
at the same instant; then the ETH to the wallet; then staked. A reduction runs the other way: the token
is sold for ETH on the DEX (``unwind_via: dex``, at once, paying the pool fee and slippage) or redeemed
through the protocol's withdrawal queue (``unwind_via: queue``, days), the ETH goes to the spot venue
and is sold, and the shorts are bought back only as the long is sold, so the book stays hedged while it
shrinks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from basis.bus.messages import AnyAction, Stake, Swap, Unstake

from .basis_plan import BasisPlanner
from .bundles import sale_terms
from .view import Target, View

if TYPE_CHECKING:
    from .hedged import HedgedStakingStrategy


class HedgedPlanner(BasisPlanner):
    """The basis planner with the long leg staked in the wallet (see the module docstring)."""

    def __init__(
        self, strategy: HedgedStakingStrategy, view: View, target: Target, *, reduce_only: bool
    ) -> None:
        super().__init__(strategy, view, target, reduce_only=reduce_only)
        self.hs = strategy
        self.hp = strategy.hedge_params
        self.rate = view.prices.lst_rate(self.hp.token)
        self.staked = strategy.staked_units(view)

    def orders(self) -> list[AnyAction]:
        orders = super().orders()
        net = self.spot_gap()
        if net >= 0.0 and not self.reduce_only:
            orders += self.stake()
        elif net < 0.0:
            orders += self.unwind(-net)
        return orders

    def transfer_band(self) -> float:
        """None in the first step of a redeployment: the idle collateral it counted on moves whatever the
        amount of each venue's share."""
        return 0.0 if self.hs.redeploying else super().transfer_band()

    def spot_gap(self) -> float:
        """ETH to buy (> 0) or sell (< 0) on the spot venue: the long wanted (the token at its rate and the
        ETH the accounts should hold) less the long held."""
        p = self.hp
        need = sum(self.wanted(a, p.asset) for a in self.accounts)
        need += self.hs.staked_wanted(self.target, self.rate)
        held = sum(self.held(a, p.asset) for a in self.accounts) + self.staked
        return need - held

    def long_after(self, buy: float, sell: float) -> float:
        return super().long_after(buy, sell) + self.staked

    def hedge_after(self, buy: float, sell: float) -> float:
        """Grows toward the target as far as the long held and every venue's margin allow; shrinks only
        as the long is sold (never below the long still held)."""
        current = self.hs.hedge_size(self.view)
        wanted = -sum(self.target.get(self.hs.perp_key(v)) for v in self.hp.allocation)
        long = max(0.0, self.long_after(buy, sell))
        if wanted > current and long > current and not self.reduce_only:
            supported = min(self.margin_capacity(v, buy) for v in self.hp.allocation)
            return max(current, min(wanted, long, supported))
        return min(current, long)

    def stake(self) -> list[AnyAction]:
        """Stake the wallet's ETH beyond what it should hold, once that is worth its gas."""
        p = self.hp
        free = self.held(p.wallet, p.asset) - self.wanted(p.wallet, p.asset)
        if free * self.price < max(p.min_order_usd, self.hs.gas_floor_usd(self.price)):
            return []
        return [Stake(token=p.token, amount=free)]

    def missing(self, sell: float) -> float:
        """ETH still to be freed from the staked position for ``sell`` units to be sold: what is not
        already on an account or on its way."""
        on_accounts = sum(max(0.0, self.held(a, self.hp.asset)) for a in self.accounts)
        return sell - on_accounts - self.view.qty(self.hs.transit_key)

    def unwind(self, sell: float) -> list[AnyAction]:
        """Turn enough of the token into ETH for ``sell`` units to be sold."""
        p = self.hp
        short = self.missing(sell)
        held = self.view.qty(self.hs.staked_key)
        if short * self.price < p.min_order_usd or held <= 0.0:
            return []
        if p.unwind_via == "queue":
            return [Unstake(token=p.token, amount=min(held, short / self.rate))]
        extra, limit = sale_terms(p, short)
        amount = min(held, short / self.rate * (1.0 + extra))
        return [Swap(sell_asset=p.token, buy_asset=p.asset, amount=amount, max_slippage_bps=limit)]
