"""Levered staked ETH hedged with perp shorts, counted in USDT (``usdt_eth_staking_hedged_leveraged``).

:mod:`.hedged` with the staked ETH levered on the lending venue as :mod:`.leveraged` does it: with net
ETH ``Q`` held on chain (``Q = s × E / P`` as in the unlevered mode) and ``target_ltv`` ``t``, leverage
``L = 1 / (1 − t)``, the collateral is ``L × Q`` ETH in the staking token and the debt ``(L − 1) × Q``
WETH. The shorts hedge ``Q``: the collateral less the debt, which is what moves with the ETH price.

The ETH that reaches the wallet is staked and levered in one flash-loan bundle (:func:`.bundles.lever_up`);
the borrow is capped so that the account's LTV never exceeds ``t`` after it. When the long shrinks (a
withdrawal, a sizing down, a risk override), or the debt exceeds its target (the token fell against
ETH), one bundle repays the excess debt and sells enough collateral for the ETH to be sold on the spot
venue (:func:`.bundles.deleverage`); the shorts are bought back only as that ETH is sold.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, cast

from basis.bus import instruments
from basis.bus.messages import AnyAction, AtomicBundle, Repay, Step

from .basis_plan import BasisPlanner
from .bundles import BORROWED, deleverage, lever_fields, lever_up
from .emergency import Emergency, Offer, take
from .hedged import HedgedStakingStrategy
from .hedged_plan import HedgedPlanner
from .params import HedgedLeveragedParams, StrategyParams
from .transfers import TransferCosts, TransferPlanError
from .view import Target, View

if TYPE_CHECKING:
    from basis.configs.models import ModeConfig


class HedgedLeveragedStrategy(HedgedStakingStrategy):
    """ETH staked and levered on the lending venue, hedged with perp shorts; USDT share class."""

    params_type: ClassVar[type[StrategyParams]] = HedgedLeveragedParams
    mode = "usdt_eth_staking_hedged_leveraged"

    @property
    def lever_params(self) -> HedgedLeveragedParams:
        """The parameters, as the type they are (the constructor checks it)."""
        return cast(HedgedLeveragedParams, self.params)

    @classmethod
    def mode_fields(cls, mode: ModeConfig) -> dict[str, Any]:
        fields = super().mode_fields(mode)
        fields.update(lever_fields(mode), health_warning=mode.risk.health_factor_warning)
        return {k: v for k, v in fields.items() if v is not None}

    @cached_property
    def collateral_key(self) -> str:
        return instruments.a_token(self.lever_params.token, self.lever_params.lending_venue)

    @cached_property
    def debt_key(self) -> str:
        return instruments.debt_token(BORROWED, self.lever_params.lending_venue)

    def staked_units(self, view: View) -> float:
        rate = view.prices.lst_rate(self.lever_params.token)
        tokens = view.qty(self.staked_key) + view.qty(self.collateral_key)
        return tokens * rate - view.qty(self.debt_key) + view.qty(self.transit_key)

    def target_for_size(self, view: View, size: float) -> Target:
        base = super().target_for_size(view, size)
        leverage = self.lever_params.leverage
        positions = dict(base.positions)
        positions[self.staked_key] = 0.0
        positions[self.collateral_key] = size * leverage / view.prices.lst_rate(self.lever_params.token)
        positions[self.debt_key] = size * (leverage - 1.0)
        legs = (base.legs - {self.staked_key}) | {self.collateral_key, self.debt_key}
        return Target(positions=positions, legs=legs)

    def staked_wanted(self, target: Target, rate: float) -> float:
        return target.get(self.collateral_key) * rate - target.get(self.debt_key)

    def planner(self, view: View, target: Target, *, reduce_only: bool) -> HedgedPlanner:
        return LeveredPlanner(self, view, target, reduce_only=reduce_only)

    CHAIN_GAS: ClassVar[int] = 900_000
    """A lever-up bundle: stake, supply, borrow, the flash loan and the bundle itself."""

    def leverage(self) -> float:
        return self.lever_params.leverage

    def chain_gas_usd(self, costs: TransferCosts) -> float:
        """The lever-up bundle's supply and borrow (the planner prices its stake)."""
        lending = self.lever_params.lending_venue
        try:
            return costs.gas_usd(lending, "supply") + costs.gas_usd(lending, "borrow")
        except TransferPlanError:
            return 0.0

    def lending_offer(self, view: View) -> Offer:
        return Offer(
            self.lever_params.lending_venue,
            0.0,
            "the account is in eMode (ETH-correlated): a USDT borrow would leave it and drop the "
            "liquidation threshold of the whole account",
            usable=False,
        )

    def ltv_emergencies(self, view: View) -> list[Emergency]:
        """``aave_ltv`` when the health factor is below its warning: repay the debt above ``target_ltv``
        from the wallet's ETH when it covers it, else in one deleveraging bundle (see :mod:`.emergency`)."""
        p = self.lever_params
        health = view.risk.health_factor if view.risk is not None else None
        if health is None or health >= p.health_warning:
            return []
        rate, price = view.prices.lst_rate(p.token), view.price(p.asset)
        collateral = view.qty(self.collateral_key)
        # ETH to repay, selling as much collateral, for the LTV to be back at its target:
        # (debt − R) / (collateral − R) = t
        t = p.target_ltv
        repay = (view.qty(self.debt_key) - t * collateral * rate) / (1.0 - t)
        if repay <= 0.0:
            return []
        wallet = view.token(p.wallet, p.asset)
        margin = sum(
            max(
                0.0,
                view.token(v, p.quote) + self.unrealised(view, v) - p.margin_buffer * self._notional(view, v),
            )
            for v in p.allocation
        )
        offers = [
            Offer(
                p.wallet,
                max(0.0, wallet) * price,
                "ETH in the wallet, repaid directly",
                usable=wallet >= repay,
            ),
            Offer(
                "cex_margin",
                margin,
                "USDT above the exchanges' margin buffer becomes WETH on chain only through a spot purchase "
                "and a transfer (an hour or more); the repay is due now",
                usable=False,
            ),
            Offer(
                "unstake",
                collateral * rate * price,
                "repay in one flash-loan bundle selling as much collateral",
            ),
        ]
        sources, _ = take(repay * price, offers)
        if sources[0].used_usd > 0.0:
            order: AnyAction = AtomicBundle(
                steps=(Step(venue=p.lending_venue, action=Repay(asset=BORROWED, amount=repay)),)
            )
            action = f"repay {repay:.6g} {BORROWED} from the wallet"
        else:
            fronted = max(0.0, -wallet)
            order = deleverage(p, rate, collateral=collateral, repay=repay, owed=fronted, fronted=fronted)
            action = f"repay {repay:.6g} {BORROWED} in one flash-loan bundle, selling as much collateral"
        return [
            Emergency(
                protocol="aave_ltv",
                trigger=f"health_factor {health:.4f} < warning {p.health_warning:g}",
                venue=p.lending_venue,
                shortfall_usd=repay * price,
                sources=sources,
                action=action,
                orders=(order,),
            )
        ]

    def _notional(self, view: View, venue: str) -> float:
        return abs(view.qty(self.perp_key(venue)) * self.mark(view, venue))


class LeveredPlanner(HedgedPlanner):
    """The hedged planner with the staked ETH levered (see the module docstring)."""

    def __init__(
        self, strategy: HedgedLeveragedStrategy, view: View, target: Target, *, reduce_only: bool
    ) -> None:
        super().__init__(strategy, view, target, reduce_only=reduce_only)
        self.ls = strategy
        self.lp = strategy.lever_params

    def orders(self) -> list[AnyAction]:
        orders = BasisPlanner.orders(self)
        return orders + self.chain(self.spot_gap())

    def chain(self, net: float) -> list[AnyAction]:
        """One bundle: deleverage when the debt exceeds its target or ETH must be freed for a sale; else
        stake and lever the wallet's free ETH, borrowing up to the target debt within ``target_ltv``."""
        p, s, view = self.lp, self.ls, self.view
        minimum = p.min_order_usd / self.price
        # a bundle pays gas for its every step: the debt is only moved by amounts worth it
        worth = max(minimum, p.dust_threshold * view.equity_usd / self.price)
        collateral = view.qty(s.collateral_key)
        debt = view.qty(s.debt_key)
        wanted_debt = self.target.get(s.debt_key)
        excess = debt - wanted_debt
        short = max(0.0, self.missing(-net)) if net < 0.0 else 0.0
        wallet_eth = self.held(p.wallet, p.asset)
        if (excess >= worth or short >= minimum) and collateral > 0.0:
            # gas the wallet has fronted: the loan covers it before the repay, the sale makes it up
            fronted = max(0.0, -wallet_eth)
            bundle = deleverage(
                p,
                self.rate,
                collateral=collateral,
                repay=max(0.0, excess),
                owed=short + fronted,
                fronted=fronted,
                full=wanted_debt <= 0.0,
            )
            return [bundle]
        if self.reduce_only or net < 0.0:
            return []
        free = wallet_eth - self.wanted(p.wallet, p.asset)
        t = p.target_ltv
        room = (t * (collateral * self.rate + max(0.0, free)) - debt) / (1.0 - t)
        borrow = min(max(0.0, -excess), max(0.0, room))
        if free < minimum and borrow < worth:
            return []
        if (free + borrow) * self.price < s.gas_floor_usd(self.price):
            return []  # not worth a bundle's gas yet: the ETH waits in the wallet, hedged
        return [lever_up(p, self.rate, borrow=borrow, free=free, first=collateral <= 0.0)]
