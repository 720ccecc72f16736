"""Idle collateral back to work, when it pays: the one discretionary move of the hedged staking modes.

Between sizings the hedged book holds ``Q`` ETH staked and shorted whatever the price does. After the
price falls, the USDT margin the shorts need falls with it and the rest lies idle on the exchanges: the
size the equity supports at the current price, ``Q'``, is above ``Q``. Growing to ``Q'`` moves that USDT
to the spot venue, buys ETH, moves it on chain and stakes it (levers it, in the levered mode) while the
shorts grow: it pays trading fees, withdrawal fees and gas, and earns the carry on ``Q' − Q`` more ETH.

So it is a proposal, put to the :class:`~.optimizer.RebalanceOptimizer` whenever ``Q'`` exceeds ``Q`` by
more than ``position_deviation_threshold``, and made only on EXECUTE:

* yield per year, before and after, USD: ``Q × P × carry`` and ``Q' × P × carry``, with ``carry`` per ETH
  of net long: the staking APR (the token's rate over the trailing week) × leverage, plus the lending
  venue's supply APR on the collateral, less its borrow APR on the debt (levered mode), plus the funding
  APR the shorts collect (each venue's recent rates, weighted by its hedge share);
* cost, USD: the spot purchase and the shorts at the venues' taker fees, the transfers priced by the
  :class:`~.transfers.TransferPlanner` (each other hedge venue's idle USDT to the spot venue, the ETH
  from the spot venue to the staking venue, gas at the current gas price), and the lever-up bundle's gas.

Every verdict is published as a ``RebalanceAssessed`` when its answer or proposal changes (and on every
EXECUTE). Moves required by risk (a venue below its margin floor, an emergency, a withdrawal owed) are
never put to the optimizer: they are made whatever they cost.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace

from basis.bus.messages import FundingRate, GasPrice, ReserveState

from .optimizer import RebalanceOptimizer, Verdict
from .transfers import MarginHealth, TransferCosts, TransferPlanError, TransferPlanner

HOURS_PER_YEAR = 365 * 24
NS_PER_DAY = 86_400 * 1_000_000_000
NS_PER_YEAR = 365 * NS_PER_DAY
STAKING_WINDOW_NS = 7 * NS_PER_DAY
FUNDING_WEIGHT = 0.1
"""Weight of the newest funding rate in a venue's running average (about the last ten intervals)."""


class CarryBook:
    """What the hedged book earns per year per ETH of net long, from the market data it saw."""

    def __init__(self) -> None:
        self.funding: dict[str, float] = {}
        """Running average of each venue's funding APR (a short receives it)."""
        self.rates: deque[tuple[int, float]] = deque()
        """(time, ETH per token) samples, one a day at most, over the trailing week."""
        self.reserves: dict[str, ReserveState] = {}
        self.gas_gwei = 0.0

    def on_funding(self, message: FundingRate) -> None:
        apr = message.rate * HOURS_PER_YEAR / message.interval_hours
        old = self.funding.get(message.venue)
        self.funding[message.venue] = apr if old is None else old + FUNDING_WEIGHT * (apr - old)

    def on_reserve(self, message: ReserveState) -> None:
        self.reserves[message.asset] = message

    def on_gas(self, message: GasPrice) -> None:
        self.gas_gwei = message.price_gwei

    def sample_rate(self, ts: int, rate: float) -> None:
        if not self.rates or ts - self.rates[-1][0] >= NS_PER_DAY:
            self.rates.append((ts, rate))
        while len(self.rates) > 2 and ts - self.rates[1][0] >= STAKING_WINDOW_NS:
            self.rates.popleft()

    def staking_apr(self) -> float:
        """The token's rate growth over the samples kept, a year's worth (0 before a day of them)."""
        if len(self.rates) < 2:
            return 0.0
        (t0, r0), (t1, r1) = self.rates[0], self.rates[-1]
        return (r1 / r0 - 1.0) * NS_PER_YEAR / (t1 - t0)

    def funding_apr(self, allocation: Mapping[str, float]) -> float:
        return sum(share * self.funding.get(venue, 0.0) for venue, share in allocation.items())

    def carry(self, allocation: Mapping[str, float], leverage: float, supplied: str, borrowed: str) -> float:
        """Per year per ETH of net long: staking × leverage, + supply APR × leverage − borrow APR ×
        (leverage − 1) when levered, + funding."""
        carry = self.staking_apr() * leverage + self.funding_apr(allocation)
        if leverage > 1.0:
            supply, borrow = self.reserves.get(supplied), self.reserves.get(borrowed)
            carry += (supply.liquidity_rate if supply else 0.0) * leverage
            carry -= (borrow.variable_borrow_rate if borrow else 0.0) * (leverage - 1.0)
        return carry


@dataclass(frozen=True)
class Proposal:
    """Grow the book from ``size`` to ``grown`` ETH, and what it costs and earns."""

    size: float
    grown: float
    verdict: Verdict
    plans: tuple[str, ...]

    def describe(self) -> str:
        return f"size {self.size:.6g} -> {self.grown:.6g} ETH with idle collateral: " + "; ".join(self.plans)


def price_growth(
    *,
    size: float,
    grown: float,
    price: float,
    carry: float,
    idle: Mapping[str, float],
    health: Mapping[str, MarginHealth],
    spot_venue: str,
    staking_venue: str,
    trading_fee: float,
    extra_gas_usd: float,
    costs: TransferCosts,
    optimizer: RebalanceOptimizer,
) -> Proposal:
    """The optimizer's verdict on growing from ``size`` to ``grown`` ETH (see the module docstring);
    ``idle`` is each hedge venue's USDT above what its shorts need, ``health`` its margin."""
    added = (grown - size) * price
    before, after = size * price * carry, grown * price * carry
    planner = TransferPlanner(costs, min_usd=0.0, max_usd=1e15)  # sizes are not in question here
    plans: list[str] = []
    cost = added * trading_fee + extra_gas_usd
    refused = ""
    try:
        moves = [(venue, spot_venue, amount, "USDT") for venue, amount in idle.items() if venue != spot_venue]
        moves.append((spot_venue, staking_venue, added, "ETH"))
        for source, destination, amount, asset in moves:
            if amount <= 0.0:
                continue
            source_health = health[source]
            if asset == "ETH":  # the ETH bought is withdrawn, not the margin
                source_health = replace(source_health, equity_usd=source_health.equity_usd + added)
            plan = planner.plan(source, destination, amount, asset=asset, health=source_health)
            plans.append(plan.describe())
            cost += plan.cost.total_usd
            refused = refused or plan.refused
    except TransferPlanError as exc:
        refused = f"cannot be priced: {exc}"
    plans.append(f"trading fees {added * trading_fee:.2f} USD, on-chain gas {extra_gas_usd:.2f} USD")
    if refused:
        verdict = Verdict(
            answer="DEFER",
            reasons=(f"a transfer is refused: {refused}",),
            yield_before_usd=before,
            yield_after_usd=after,
            cost_usd=cost if math.isfinite(cost) else 0.0,
            horizon_days=optimizer.horizon_days,
            margin=optimizer.margin,
            gain_usd=(after - before) * optimizer.horizon_days / 365.0,
            break_even_days=None,
        )
    else:
        verdict = optimizer.assess(before, after, cost)
    return Proposal(size, grown, verdict, tuple(plans))
