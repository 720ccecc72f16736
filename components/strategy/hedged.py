"""Staked ETH hedged with perp shorts, counted in USDT (``usdt_eth_staking_hedged_simple``).

The basis trade (:mod:`.basis`) with its long leg staked: the ETH bought on the spot venue is moved to the
wallet and staked into the mode's liquid staking token (weETH through ether.fi, wstETH through Lido);
the perp shorts, split by ``hedge_allocation``, hedge it. The share class is USDT and the book is market
neutral: the staking return (the token's exchange rate) and the funding the shorts collect are the yield.

Sizing, with deployable equity ``E`` (USDT), stake allocation ``s`` and ETH price ``P``: the margin per
unit of perp notional is ``m = (1 − s) / s`` (``s = 0.5``: as much USDT margin as ETH staked), and
``Q = E / ((1 + m) × P) = s × E / P`` ETH is held staked, ``Q`` shorted (``E`` less the shorts'
unrealised gains, which are margin no exchange pays out). The targets are those of the
basis trade for ``Q`` with the long held as ``Q / rate`` of the token in the wallet (``rate``: ETH per
token) instead of spot on the exchange; the exchange holds no ETH of its own and the wallet only
``gas_reserve`` (ETH to pay gas with: a decision may send several on-chain instructions).

What it counts as long: ETH on every account (wallet and exchanges), the token in the wallet at its
rate, and ETH in transit (an unstake in the queue, a transfer under way). The orders of each step toward
a target come from :mod:`.hedged_plan`.

Before anything else every decision looks for an emergency (:mod:`.emergency`: a venue's margin below
the risk warning, the lending account's health factor below its warning, collateral spread unevenly
over the venues), publishes what it found and acts on it. When risk is critical otherwise (the delta
drift) the book is not cut blindly (a reduce-only cut of the shorts would leave staked ETH unhedged):
the strategy sizes again from its equity at the current price and rebalances toward that target.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, cast

from basis.bus import instruments
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    AnyAction,
    EmergencyAction,
    FundingRate,
    GasPrice,
    LstRate,
    Message,
    RebalanceAssessed,
    ReserveState,
    WrapperAction,
)
from basis.components.pricing import REWARD_TOKENS, PriceBook

from .base import Trigger
from .basis import BasisStrategy, Sizing
from .bundles import sale_fields
from .emergency import Emergency, Offer, imbalance_emergencies, margin_emergencies
from .hedged_plan import HedgedPlanner
from .optimizer import RebalanceOptimizer, verdict_fields
from .params import BasisParams, HedgedStakingParams, StrategyParams
from .redeploy import CarryBook, Proposal, price_growth
from .transfers import MarginHealth, TransferCosts
from .view import Target, View

if TYPE_CHECKING:
    from basis.configs.models import ModeConfig


class HedgedStakingStrategy(BasisStrategy):
    """ETH staked in a liquid staking token, hedged with perp shorts; USDT share class."""

    params_type: ClassVar[type[StrategyParams]] = HedgedStakingParams
    mode = "usdt_eth_staking_hedged_simple"
    equity_in = "quote"

    def __init__(
        self, bus: Bus, clock: Clock, ids: IdFactory, params: BasisParams, *, prices: PriceBook | None = None
    ) -> None:
        super().__init__(bus, clock, ids, params, prices=prices)
        self._redeploy: Proposal | None = None
        self.redeploying = False
        """The optimizer said EXECUTE and the first plan of the redeployment is not made yet."""
        self._last_proposal: tuple[str, float] = ("", 0.0)

    @property
    def hedge_params(self) -> HedgedStakingParams:
        """The parameters, as the type they are (the constructor checks it)."""
        return cast(HedgedStakingParams, self.params)

    @classmethod
    def mode_fields(cls, mode: ModeConfig) -> dict[str, Any]:
        fields = super().mode_fields(mode)
        share = mode.stake_allocation_percentage
        if share is None:
            raise ValueError("stake_allocation_percentage is required (the share of equity staked)")
        fields.update(stake_allocation=share, margin_buffer=(1.0 - share) / share)
        if mode.lst_type is not None:
            fields["token"] = mode.lst_type
            fields["dust_tokens"] = REWARD_TOKENS.get(str(mode.lst_type), ())
            fields["dust_into"] = mode.asset  # the reward tokens' pools are against WETH
        fields["unwind_via"] = mode.unwind_via
        fields.update(sale_fields(mode.slippage_bps))
        return fields

    # --- keys and book readings -------------------------------------------------------------------

    @cached_property
    def staked_key(self) -> str:
        return instruments.token(self.hedge_params.wallet, self.hedge_params.token)

    @cached_property
    def wallet_eth_key(self) -> str:
        return instruments.token(self.hedge_params.wallet, self.hedge_params.asset)

    @cached_property
    def transit_key(self) -> str:
        return instruments.in_transit(self.hedge_params.asset)

    def staked_units(self, view: View) -> float:
        """ETH held as the token (at its rate) and ETH in transit: the long not on any account."""
        rate = view.prices.lst_rate(self.hedge_params.token)
        return view.qty(self.staked_key) * rate + view.qty(self.transit_key)

    def long_units(self, view: View) -> float:
        """Units of ETH held long: on every account, staked and in transit."""
        p = self.hedge_params
        on_accounts = sum(view.token(account, p.asset) for account in (p.wallet, *p.cex_venues))
        return on_accounts + self.staked_units(view)

    # --- hooks --------------------------------------------------------------------------------------

    def size_for(self, view: View, deployable_usd: float) -> float:
        """``Q`` for the deployable equity less the shorts' unrealised gains: a gain is margin (it counts in
        a venue's margin ratio) but no exchange pays it out, so it funds neither the long nor a payout."""
        gains = sum(max(0.0, self.unrealised(view, venue)) for venue in self.hedge_params.allocation)
        return super().size_for(view, max(0.0, deployable_usd - gains))

    def target_for_size(self, view: View, size: float) -> Target:
        base = super().target_for_size(view, size)
        positions = dict(base.positions)
        positions[self.spot_key] = 0.0
        positions[self.wallet_eth_key] = self.hedge_params.gas_reserve
        positions[self.staked_key] = size / view.prices.lst_rate(self.hedge_params.token)
        legs = (base.legs - {self.spot_key}) | {self.staked_key}
        return Target(positions=positions, legs=legs)

    def deployed_usd(self, view: View) -> float:
        size = max(self.long_units(view), self.hedge_size(view))
        return max(0.0, size) * view.price(self.hedge_params.asset) * (1.0 + self.hedge_params.margin_buffer)

    def net_delta(self, view: View) -> float:
        return self.long_units(view) - self.hedge_size(view)

    def staked_wanted(self, target: Target, rate: float) -> float:
        """ETH ``target`` holds staked (net of any debt against it), at ``rate`` ETH per token."""
        return target.get(self.staked_key) * rate

    def planner(self, view: View, target: Target, *, reduce_only: bool) -> HedgedPlanner:
        return HedgedPlanner(self, view, target, reduce_only=reduce_only)

    def plan(self, view: View, target: Target, *, reduce_only: bool) -> list[AnyAction]:
        orders = self.planner(view, target, reduce_only=reduce_only).orders()
        self.redeploying = False
        if not orders and not reduce_only:
            self.settling = False
        return orders

    # --- emergencies ------------------------------------------------------------------------------

    def lending_offer(self, view: View) -> Offer:
        """The lending venue as a source of margin (none in this mode)."""
        return Offer("lending", 0.0, "no lending venue in this mode", usable=False)

    def ltv_emergencies(self, view: View) -> list[Emergency]:
        """``aave_ltv`` findings (none without a lending position)."""
        return []

    def emergencies(self, view: View) -> list[Emergency]:
        """Every protocol that holds on the book, in priority order (:mod:`.emergency`)."""
        margin = margin_emergencies(self, view)
        found = margin + self.ltv_emergencies(view)
        return found + imbalance_emergencies(self, view, skip={e.venue for e in margin})

    async def decide(self, view: View, cause: Message) -> None:
        if await self._emergency(view, cause):
            return
        self._redeploy = await self._assess_redeploy(view, cause)
        await super().decide(view, cause)

    # --- idle collateral back to work (:mod:`.redeploy`) -----------------------------------------

    async def on_start(self) -> None:
        await super().on_start()
        carry = self.carry
        await self.bus.subscribe("md.funding.>", carry.on_funding, types=(FundingRate,))
        await self.bus.subscribe("md.gas.>", carry.on_gas, types=(GasPrice,))
        await self.bus.subscribe("md.reserve.>", carry.on_reserve, types=(ReserveState,))
        await self.bus.subscribe("md.lst.>", self.on_lst, types=(LstRate,))

    def on_lst(self, message: LstRate) -> None:
        """The token's rate, sampled for its staking APR (market data: a rebuilt strategy has it too)."""
        if message.token == self.hedge_params.token:
            self.carry.sample_rate(message.ts, message.rate)

    @cached_property
    def carry(self) -> CarryBook:
        return CarryBook()

    @cached_property
    def optimizer(self) -> RebalanceOptimizer:
        p = self.hedge_params
        return RebalanceOptimizer(horizon_days=p.redeploy_horizon_days, margin=p.redeploy_margin)

    def leverage(self) -> float:
        return 1.0

    def chain_gas_usd(self, costs: TransferCosts) -> float:
        """Gas of the on-chain steps after the ETH reaches the wallet, beyond the planner's stake."""
        return 0.0

    def sizing_triggers(self, view: View, equity: float) -> list[Trigger]:
        found = super().sizing_triggers(view, equity)
        proposal = self._redeploy
        if proposal is not None and proposal.verdict.answer == "EXECUTE":
            found.append(Trigger("redeploy", f"optimizer EXECUTE: {proposal.describe()}"))
            self.redeploying = True
        return found

    async def _assess_redeploy(self, view: View, cause: Message) -> Proposal | None:
        """The optimizer's verdict on growing to the size the equity supports at the current price, when it
        is above the held size by more than the deviation threshold (None otherwise); published when its
        answer or proposal changed, and on EXECUTE."""
        p = self.hedge_params
        sized = self.sizing
        if sized is None or not p.transfer_terms or self.settling or len(self.withdrawals):
            return None
        grown = self.size_for(view, view.deployable_usd)
        if grown <= sized.size * (1.0 + p.redeploy_band):
            self._last_proposal = ("", 0.0)
            return None
        price = view.price(p.asset)
        idle: dict[str, float] = {}
        health: dict[str, MarginHealth] = {}
        for venue in p.allocation:
            notional = abs(view.qty(self.perp_key(venue)) * self.mark(view, venue))
            equity = view.token(venue, p.quote) + self.unrealised(view, venue)
            health[venue] = MarginHealth(equity, notional, p.margin_band[0])
            idle[venue] = max(0.0, min(view.token(venue, p.quote), equity - p.margin_buffer * notional))
        gas_eth = self.carry.gas_gwei * 1e-9
        costs = TransferCosts(
            venues=p.transfer_terms,
            gas_price_eth=gas_eth,
            prices_usd={p.asset: price, p.quote: 1.0, p.token: view.price(p.token)},
            yields={venue: 0.0 for venue in p.transfer_terms},
        )
        proposal = price_growth(
            size=sized.size,
            grown=grown,
            price=price,
            carry=self.carry_apr(),
            idle=idle,
            health=health,
            spot_venue=p.spot_venue,
            staking_venue=self.staking_venue,
            trading_fee=p.trading_fee,
            extra_gas_usd=self.chain_gas_usd(costs),
            costs=costs,
            optimizer=self.optimizer,
        )
        verdict = proposal.verdict
        key = (verdict.answer, round(grown / sized.size, 2))
        if verdict.answer == "EXECUTE" or key != self._last_proposal:
            self._last_proposal = key
            await self.emit(
                self.make(
                    RebalanceAssessed, cause=cause, proposal=proposal.describe(), **verdict_fields(verdict)
                )
            )
        return proposal

    CHAIN_GAS: ClassVar[int] = 120_000
    """Gas units of putting the wallet's ETH to work (a stake)."""

    def gas_floor_usd(self, price: float) -> float:
        """The smallest amount worth putting to work on chain at the current gas price (USD)."""
        return self.CHAIN_GAS * self.carry.gas_gwei * 1e-9 * price / self.hedge_params.max_gas_share

    def carry_apr(self) -> float:
        """What the book earns per year per ETH of net long (:class:`.redeploy.CarryBook`)."""
        return self.carry.carry(
            self.hedge_params.allocation, self.leverage(), self.hedge_params.token, "WETH"
        )

    @cached_property
    def staking_venue(self) -> str:
        """The venue that issues the token, as the venues' terms name it."""
        p = self.hedge_params
        return next(
            (
                name
                for name, terms in p.transfer_terms.items()
                if terms.kind == "staking" and terms.lst == p.token
            ),
            "etherfi",
        )

    async def _risk_override(self, view: View, cause: Message) -> None:
        """Risk critical: the emergency protocols when one holds; else (the delta drift) size again from
        equity at the current price and rebalance toward it, at most once per clock instant."""
        assert view.risk is not None
        if await self._emergency(view, cause):
            return
        now = self.clock.now_ns()
        if self._risk_cut_ns == now:
            await self._hold("risk critical: rebalance already sent at this instant", cause=cause)
            return
        breaches = ", ".join(view.risk.breaches) or "level critical"
        reason = f"risk critical ({breaches}): size to equity at the current price and rebalance"
        if await self._resize(view, cause, reason=reason, hold_reason="risk critical: nothing to send"):
            self._risk_cut_ns = now

    async def _resize(self, view: View, cause: Message, *, reason: str, hold_reason: str) -> bool:
        self.sizing = Sizing(self.size_for(view, view.deployable_usd), view.deployable_usd / view.share_price)
        self.settling = True
        target = self.target_for_size(view, self.sizing.size)
        return await self.rebalance_to(target, view, cause, reason=reason, hold_reason=hold_reason)

    async def _emergency(self, view: View, cause: Message) -> bool:
        """Publish every emergency found, in priority order, and act on them in one decision (at most once
        per clock instant); False when there is none."""
        found = self.emergencies(view)
        if not found:
            return False
        now = self.clock.now_ns()
        if self._risk_cut_ns == now:
            await self._hold("emergency: acted on already at this instant", cause=cause)
            return True
        last: Message = cause
        for emergency in found:
            last = self.make(
                EmergencyAction,
                cause=last,
                protocol=emergency.protocol,
                trigger=emergency.trigger,
                venue=emergency.venue,
                shortfall_usd=emergency.shortfall_usd,
                sources=emergency.sources,
                action=emergency.action,
            )
            await self.emit(last)
        summary = "; ".join(f"{e.protocol} at {e.venue}: {e.action}" for e in found)
        reason = f"emergency ({summary})"
        if any(e.resize for e in found):
            sent = await self._resize(view, last, reason=reason, hold_reason="emergency: nothing to send")
        else:
            orders = [order for e in found for order in e.orders]
            action: WrapperAction = (
                "exit_partial" if any(e.protocol == "aave_ltv" for e in found) else "entry_partial"
            )
            sent = bool(orders)
            if sent:
                await self._send(action, reason, None, orders, [], last)
            else:
                await self._hold("emergency: nothing to send", cause=last)
        if sent:
            self._risk_cut_ns = now
        return True
