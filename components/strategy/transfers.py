"""Transfer planner: which asset carries value from one venue to another, the actions that move it, and
what moving it costs. Pure values, no I/O.

A venue is one of the planning kinds of :mod:`.venue_terms` (``cex``, ``lending``, ``staking``,
``wallet``; a ``dex`` converts), and :class:`TransferCosts` prices a plan with the venues' terms and the
market figures of the moment. The route decides the asset:

=================  ======  ==================================================================
route              asset   steps, in order (venue: action)
=================  ======  ==================================================================
staking → cex      ETH     dex: swap LST → ETH, or staking: unstake LST; wallet: transfer ETH
staking → lending  LST     lending: supply LST (it stays collateral)
lending → cex      USDT    lending: withdraw USDT; wallet: transfer USDT
cex → staking      ETH     cex: transfer ETH to the wallet; staking: stake ETH
cex → lending      USDT    cex: transfer USDT to the wallet; lending: supply USDT
cex → cex          USDT    source: transfer USDT to the destination
cex → wallet       asked   cex: transfer the asset asked to the wallet
wallet → cex       USDT    wallet: transfer USDT
wallet → lending   USDT    lending: supply USDT
=================  ======  ==================================================================

Staking → cex converts the LST one of two ways: a swap on the DEX (the pool fee, no wait) or an unstake
through the protocol's queue (no fee, the queue's delay). The planner takes the cheaper in total, the
yield lost while waiting included, and the faster of two equal ones; ``urgent=True`` takes the faster.

**Amounts.** ``amount_usd`` is the value taken from the source. Each step carries what is there when it
runs: a CEX withdrawal fee is taken from what arrives, so the step after a CEX withdrawal moves the
amount less the fee, and the transfer after a swap moves what the swap returns (the pool fee taken). The
plan's ``amount`` is the units of ``asset`` that cross between venues (the transfer's amount; the supply's
for staking → lending). A step that needs funds still in flight (the transfer after an unstake, the stake
or supply after a CEX withdrawal) is for the caller to send once they arrived: the plan orders the steps,
it does not schedule them.

**Costs**, in USD:

* gas: the gas units of each on-chain step's operation at its venue × the gas price (ETH per unit) × the
  ETH price. A wallet transfer of ETH is the venue's ``transfer``, of a token its ``erc20_transfer``;
  token approvals are taken as already given, as the venues charge them. CEX withdrawals pay no gas;
* fees: the sending exchange's withdrawal fee of the asset and the receiving exchange's deposit fee, at
  the asset's price (a fee the venue's configuration does not list is zero, as the simulated venues
  charge it);
* conversion: the DEX pool fee of the swap, on the value swapped;
* yield lost: ``amount_usd × the source's yield per year × seconds in flight / 365 days`` (the wallet
  earns nothing). In flight: the unstake queue, the source exchange's withdrawal delay and the receiving
  exchange's deposit delay, as far as the route passes them.

**Refusals and errors.** A plan is *refused* when the book forbids it now: ``refused`` names the reason
with its numbers, ``steps`` is empty (nothing can be sent by mistake) and the costs are still given. It
is refused when ``amount_usd`` is below ``min_usd`` or above ``max_usd``, when its fees and conversion
eat the whole amount, and when the withdrawal would push the source past its own limit: a lending
source's LTV (debt / collateral left) above its ``max_ltv``, a CEX source's margin ratio (equity left /
perp notional) below its ``min_ratio``, or either withdrawing more than it holds. A question that has no
answer raises a :class:`TransferPlanError`::

    TransferPlanError
    ├── UnsupportedRoute   a venue the costs do not know, or a pair of venues with no route
    └── MissingFigure      a price, a yield, the gas units of an operation, or the source's health
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from basis.bus.messages import AnyAction, Stake, Supply, Swap, Transfer, Unstake, Withdraw

from .venue_terms import WALLET, VenueTerms, check_finite, frozen_copy, venue_terms

if TYPE_CHECKING:
    from basis.configs.models.base import VenueName
    from basis.configs.run import ResolvedVenue

SECONDS_PER_YEAR = 365 * 86_400
BPS = 1e-4

EventValue = str | float | tuple[str, ...] | None
"""What the event fields of a plan or a verdict hold: primitives only."""


class TransferPlanError(Exception):
    """A transfer the planner cannot answer for (see the module docstring for the tree)."""


class UnsupportedRoute(TransferPlanError):
    """A venue the costs do not know, or no route between the two venues."""


class MissingFigure(TransferPlanError):
    """A figure the plan needs is not given: a price, a yield, gas units or the source's health."""


@dataclass(frozen=True)
class TransferCosts:
    """Everything a plan is priced with: each venue's terms (from the configuration) and the market
    figures of the moment (gas price, prices, yields)."""

    venues: Mapping[str, VenueTerms]
    """By venue name, the wallet as ``wallet``."""
    gas_price_eth: float
    """ETH per unit of gas (gwei × 1e-9)."""
    prices_usd: Mapping[str, float]
    """USD per unit of each asset a plan moves (``ETH`` always: gas is paid in it)."""
    yields: Mapping[str, float]
    """What funds earn at each venue, a fraction per year (staking APY, supply APY, funding carry)."""

    def __post_init__(self) -> None:
        check_finite("gas_price_eth", self.gas_price_eth, minimum=0.0)
        for asset, price in self.prices_usd.items():
            if not (math.isfinite(price) and price > 0.0):
                raise ValueError(f"price of {asset} must be finite and > 0, got {price!r}")
        if "ETH" not in self.prices_usd:
            raise MissingFigure("no ETH price: gas is paid in ETH")
        for venue, rate in self.yields.items():
            check_finite(f"yield of {venue}", rate)
        dexes = sorted(name for name, terms in self.venues.items() if terms.kind == "dex")
        if len(dexes) > 1:
            raise ValueError(f"one DEX at most, got {', '.join(dexes)}")
        object.__setattr__(self, "venues", frozen_copy(self.venues))
        object.__setattr__(self, "prices_usd", frozen_copy(self.prices_usd))
        object.__setattr__(self, "yields", frozen_copy(self.yields))

    @classmethod
    def from_venues(
        cls,
        venues: Mapping[VenueName, ResolvedVenue],
        *,
        gas_price_eth: float,
        prices_usd: Mapping[str, float],
        yields: Mapping[str, float],
    ) -> TransferCosts:
        """The costs of a run's venues (``RunConfig.venues``, see :func:`.venue_terms.venue_terms`) with
        the market figures of the moment."""
        return cls(venue_terms(venues), gas_price_eth, prices_usd, yields)

    def terms(self, venue: str) -> VenueTerms:
        found = self.venues.get(venue)
        if found is None:
            raise UnsupportedRoute(f"unknown venue {venue!r}; known: {', '.join(sorted(self.venues))}")
        return found

    def price(self, asset: str) -> float:
        found = self.prices_usd.get(asset)
        if found is None:
            raise MissingFigure(f"no price of {asset}")
        return found

    def yield_of(self, venue: str) -> float:
        """The source's yield per year; the wallet's is 0 (idle tokens earn nothing)."""
        if venue == WALLET:
            return 0.0
        found = self.yields.get(venue)
        if found is None:
            raise MissingFigure(f"no yield of {venue}")
        return found

    def gas_usd(self, venue: str, operation: str) -> float:
        units = self.terms(venue).gas.get(operation)
        if units is None:
            raise MissingFigure(f"no gas units of {operation} at {venue}")
        return units * self.gas_price_eth * self.price("ETH")

    @property
    def dex(self) -> str | None:
        """The DEX that swaps liquid staking tokens, if the venues have one."""
        return next((name for name, terms in self.venues.items() if terms.kind == "dex"), None)


# --- the source's limits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LendingHealth:
    """The lending account collateral is withdrawn from, in USD, and the LTV it must stay under."""

    collateral_usd: float
    debt_usd: float
    max_ltv: float

    def ltv_after(self, withdrawn_usd: float) -> float:
        """Debt / collateral left (0 without debt, infinite with debt and no collateral left)."""
        if self.debt_usd <= 0.0:
            return 0.0
        left = self.collateral_usd - withdrawn_usd
        return self.debt_usd / left if left > 0.0 else math.inf


@dataclass(frozen=True)
class MarginHealth:
    """The CEX account funds are withdrawn from: margin equity and gross perp notional in USD, and the
    margin ratio (equity / notional) it must stay at or above."""

    equity_usd: float
    notional_usd: float
    min_ratio: float

    def ratio_after(self, withdrawn_usd: float) -> float:
        """Equity left / notional (infinite without perps)."""
        left = self.equity_usd - withdrawn_usd
        return left / self.notional_usd if self.notional_usd > 0.0 else math.inf


SourceHealth = LendingHealth | MarginHealth


def source_refusal(source: str, health: SourceHealth, amount_usd: float) -> str:
    """Why withdrawing ``amount_usd`` would push ``source`` past its limit ("" when it would not)."""
    if isinstance(health, LendingHealth):
        if amount_usd > health.collateral_usd:
            return (
                f"{source}: withdraws {amount_usd:.2f} USD, more than the collateral "
                f"{health.collateral_usd:.2f} USD"
            )
        ltv = health.ltv_after(amount_usd)
        if ltv > health.max_ltv:
            return (
                f"{source}: LTV after the withdrawal {ltv:.4f} above the maximum {health.max_ltv:.4f} "
                f"(collateral {health.collateral_usd:.2f} USD, debt {health.debt_usd:.2f} USD, "
                f"withdrawn {amount_usd:.2f} USD)"
            )
        return ""
    if amount_usd > health.equity_usd:
        return f"{source}: withdraws {amount_usd:.2f} USD, more than the equity {health.equity_usd:.2f} USD"
    ratio = health.ratio_after(amount_usd)
    if ratio < health.min_ratio:
        return (
            f"{source}: margin ratio after the withdrawal {ratio:.4f} below the floor {health.min_ratio:.4f} "
            f"(equity {health.equity_usd:.2f} USD, notional {health.notional_usd:.2f} USD, "
            f"withdrawn {amount_usd:.2f} USD)"
        )
    return ""


# --- plans ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanStep:
    """One action of a plan and the venue it is sent to."""

    venue: str
    action: AnyAction

    def describe(self) -> str:
        """``kind(field=value, ...)@venue``, as an instruction describes itself."""
        return f"{self.action.describe()}@{self.venue}"


@dataclass(frozen=True)
class TransferCost:
    """What a transfer costs, in USD (see the module docstring for each term)."""

    gas_usd: float = 0.0
    fees_usd: float = 0.0
    conversion_usd: float = 0.0
    yield_lost_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        return self.gas_usd + self.fees_usd + self.conversion_usd + self.yield_lost_usd


@dataclass(frozen=True)
class TransferPlan:
    """How ``amount_usd`` of value moves from ``source`` to ``destination``, and what it costs."""

    source: str
    destination: str
    amount_usd: float
    asset: str
    amount: float
    """Units of ``asset`` that cross between the venues."""
    steps: tuple[PlanStep, ...]
    """In order; empty when refused."""
    cost: TransferCost
    seconds_in_flight: float
    refused: str = ""
    """Why the plan is refused, with its numbers; "" when it may be sent."""

    @property
    def accepted(self) -> bool:
        return not self.refused

    @property
    def cost_bps(self) -> float:
        """The total cost in basis points of ``amount_usd``."""
        return self.cost.total_usd / self.amount_usd / BPS

    def describe(self) -> str:
        return " → ".join(step.describe() for step in self.steps) or f"refused: {self.refused}"

    def to_event_fields(self) -> dict[str, EventValue]:
        """The plan as primitives, named as the fields of an event that records it."""
        return {
            "source": self.source,
            "destination": self.destination,
            "asset": self.asset,
            "amount": self.amount,
            "amount_usd": self.amount_usd,
            "steps": tuple(step.describe() for step in self.steps),
            "gas_usd": self.cost.gas_usd,
            "fees_usd": self.cost.fees_usd,
            "conversion_usd": self.cost.conversion_usd,
            "yield_lost_usd": self.cost.yield_lost_usd,
            "total_usd": self.cost.total_usd,
            "seconds_in_flight": self.seconds_in_flight,
            "refused": self.refused,
        }


@dataclass(frozen=True)
class _Leg:
    """Part of a route before it is priced: its steps, the (venue, operation) of each step that pays
    gas, its fees and conversion in USD, and how long it keeps the funds in flight."""

    steps: tuple[PlanStep, ...]
    gas: tuple[tuple[str, str], ...] = ()
    fees_usd: float = 0.0
    conversion_usd: float = 0.0
    seconds: float = 0.0

    def then(self, other: _Leg) -> _Leg:
        return _Leg(
            self.steps + other.steps,
            self.gas + other.gas,
            self.fees_usd + other.fees_usd,
            self.conversion_usd + other.conversion_usd,
            self.seconds + other.seconds,
        )


@dataclass(frozen=True)
class _Route:
    """One way to go: the asset and units that cross between the venues, and the legs."""

    asset: str
    amount: float
    leg: _Leg


@dataclass(frozen=True)
class TransferPlanner:
    """Plans transfers between the venues of ``costs`` (see the module docstring)."""

    costs: TransferCosts
    min_usd: float = 5_000.0
    max_usd: float = 100_000.0

    def __post_init__(self) -> None:
        check_finite("min_usd", self.min_usd, minimum=0.0)
        check_finite("max_usd", self.max_usd, minimum=self.min_usd)

    def plan(
        self,
        source: str,
        destination: str,
        amount_usd: float,
        *,
        asset: str | None = None,
        health: SourceHealth | None = None,
        urgent: bool = False,
    ) -> TransferPlan:
        """Plan moving ``amount_usd`` of value from ``source`` to ``destination``.

        ``asset`` is required from a CEX to the wallet (the asset asked) and otherwise, when given, must
        be the route's. ``health`` is the source's limit: required for a lending source
        (:class:`LendingHealth`) and a CEX source (:class:`MarginHealth`), refused for the others.
        ``urgent`` prefers the fastest way to the cheapest. What the book forbids now comes back refused
        (``refused`` says why); what has no answer raises :class:`TransferPlanError`.
        """
        if not (math.isfinite(amount_usd) and amount_usd > 0.0):
            raise ValueError(f"amount_usd must be finite and > 0, got {amount_usd!r}")
        routes = self._routes(source, destination, amount_usd, asset)
        if asset is not None and routes[0].asset != asset:
            raise UnsupportedRoute(f"{source} → {destination} moves {routes[0].asset}, not {asset}")
        self._check_health(source, health)
        plans = [self._priced(source, destination, amount_usd, route) for route in routes]
        order: Callable[[TransferPlan], tuple[float, float]] = (
            (lambda p: (p.seconds_in_flight, p.cost.total_usd))
            if urgent
            else (lambda p: (p.cost.total_usd, p.seconds_in_flight))
        )
        best = min(plans, key=order)
        refusal = self._refusal(source, amount_usd, best, health)
        return replace(best, steps=(), refused=refusal) if refusal else best

    def _check_health(self, source: str, health: SourceHealth | None) -> None:
        kind = self.costs.terms(source).kind
        wanted: type[SourceHealth] | None = (
            LendingHealth if kind == "lending" else MarginHealth if kind == "cex" else None
        )
        if wanted is None:
            if health is not None:
                raise TransferPlanError(f"{source} is a {kind} source: it has no limit to check")
            return
        if health is None:
            raise MissingFigure(f"no health of {source}: a {kind} source needs a {wanted.__name__}")
        if not isinstance(health, wanted):
            raise TransferPlanError(f"{source} is a {kind} source: its health is a {wanted.__name__}")

    def _refusal(
        self, source: str, amount_usd: float, plan: TransferPlan, health: SourceHealth | None
    ) -> str:
        if amount_usd < self.min_usd:
            return f"{amount_usd:.2f} USD below the minimum transfer {self.min_usd:.2f} USD"
        if amount_usd > self.max_usd:
            return f"{amount_usd:.2f} USD above the maximum transfer {self.max_usd:.2f} USD"
        eaten = plan.cost.fees_usd + plan.cost.conversion_usd
        if eaten >= amount_usd:
            return f"fees and conversion {eaten:.2f} USD eat the whole {amount_usd:.2f} USD"
        return source_refusal(source, health, amount_usd) if health is not None else ""

    def _priced(self, source: str, destination: str, amount_usd: float, route: _Route) -> TransferPlan:
        costs, leg = self.costs, route.leg
        gas_usd = 0.0
        for venue, operation in leg.gas:
            gas_usd += costs.gas_usd(venue, operation)
        lost = amount_usd * costs.yield_of(source) * leg.seconds / SECONDS_PER_YEAR
        cost = TransferCost(gas_usd, leg.fees_usd, leg.conversion_usd, lost)
        return TransferPlan(
            source, destination, amount_usd, route.asset, route.amount, leg.steps, cost, leg.seconds
        )

    # --- routes (the table of the module docstring) -------------------------------------------------

    def _routes(self, source: str, destination: str, amount_usd: float, asset: str | None) -> list[_Route]:
        """Every way from ``source`` to ``destination`` (two from staking to a CEX, one otherwise)."""
        src, dst = self.costs.terms(source), self.costs.terms(destination)
        kinds = (src.kind, dst.kind)
        if source == destination:
            raise UnsupportedRoute(f"{source} → {destination}: the source is the destination")
        if kinds == ("staking", "cex"):
            routes = [self._unstaked(source, src, destination, amount_usd)]
            dex = self.costs.dex
            return routes if dex is None else [self._swapped(src, dex, destination, amount_usd), *routes]
        if kinds == ("staking", "lending"):
            units = self._units(src.lst, amount_usd)
            return [_Route(src.lst, units, self._onchain(destination, Supply(asset=src.lst, amount=units)))]
        if kinds == ("lending", "cex"):
            units = self._units("USDT", amount_usd)
            sent, _ = self._hop(WALLET, destination, "USDT", units)
            return [
                _Route("USDT", units, self._onchain(source, Withdraw(asset="USDT", amount=units)).then(sent))
            ]
        if kinds in (("cex", "staking"), ("cex", "lending")):
            moved = "ETH" if dst.kind == "staking" else "USDT"
            units = self._units(moved, amount_usd)
            sent, arrived = self._hop(source, WALLET, moved, units)
            then: AnyAction = (
                Stake(token=dst.lst, amount=arrived)
                if dst.kind == "staking"
                else Supply(asset=moved, amount=arrived)
            )
            landed = self._onchain(destination, then, seconds=dst.deposit_delay_s)
            return [_Route(moved, units, sent.then(landed))]
        if kinds in (("cex", "cex"), ("wallet", "cex"), ("cex", "wallet")):
            if dst.kind == "wallet" and asset is None:
                raise TransferPlanError(f"{source} → {destination} moves the asset asked: pass asset")
            moved = asset if dst.kind == "wallet" and asset is not None else "USDT"
            units = self._units(moved, amount_usd)
            return [_Route(moved, units, self._hop(source, destination, moved, units)[0])]
        if kinds == ("wallet", "lending"):
            units = self._units("USDT", amount_usd)
            return [_Route("USDT", units, self._onchain(destination, Supply(asset="USDT", amount=units)))]
        raise UnsupportedRoute(f"no route from {source} ({src.kind}) to {destination} ({dst.kind})")

    def _swapped(self, src: VenueTerms, dex: str, destination: str, amount_usd: float) -> _Route:
        """Staking → CEX through the DEX: sell the LST for ETH, send what the swap returns."""
        conversion = amount_usd * self.costs.terms(dex).swap_fee_bps * BPS
        swap = Swap(sell_asset=src.lst, buy_asset="ETH", amount=self._units(src.lst, amount_usd))
        eth = self._units("ETH", amount_usd - conversion)
        sent, _ = self._hop(WALLET, destination, "ETH", eth)
        return _Route("ETH", eth, replace(self._onchain(dex, swap), conversion_usd=conversion).then(sent))

    def _unstaked(self, source: str, src: VenueTerms, destination: str, amount_usd: float) -> _Route:
        """Staking → CEX through the protocol's queue: unstake the LST, send the ETH once paid."""
        unstake = Unstake(token=src.lst, amount=self._units(src.lst, amount_usd))
        eth = self._units("ETH", amount_usd)
        sent, _ = self._hop(WALLET, destination, "ETH", eth)
        return _Route("ETH", eth, self._onchain(source, unstake, seconds=src.withdrawal_delay_s).then(sent))

    def _units(self, asset: str, amount_usd: float) -> float:
        return amount_usd / self.costs.price(asset)

    @staticmethod
    def _onchain(venue: str, action: AnyAction, *, seconds: float = 0.0) -> _Leg:
        """One on-chain action, paying the gas of its kind at ``venue``."""
        return _Leg((PlanStep(venue, action),), ((venue, action.kind),), seconds=seconds)

    def _hop(self, frm: str, to: str, asset: str, units: float) -> tuple[_Leg, float]:
        """A ``Transfer`` of ``units`` of ``asset`` between the wallet and a CEX or between two CEXs, and
        the units that arrive. Sent by ``frm``; the wallet pays gas, a CEX its withdrawal fee and delay;
        a receiving CEX charges its deposit fee and waits its deposit delay."""
        src, dst = self.costs.terms(frm), self.costs.terms(to)
        fee_units = 0.0
        seconds = 0.0
        gas: tuple[tuple[str, str], ...] = ()
        if src.kind == "wallet":
            gas = ((frm, "transfer" if asset == "ETH" else "erc20_transfer"),)
        else:
            fee_units += src.withdrawal_fees.get(asset, 0.0)
            seconds += src.withdrawal_delay_s
        if dst.kind == "cex":
            fee_units += dst.deposit_fees.get(asset, 0.0)
            seconds += dst.deposit_delay_s
        step = PlanStep(frm, Transfer(source=frm, destination=to, asset=asset, amount=units))
        leg = _Leg((step,), gas, fee_units * self.costs.price(asset), 0.0, seconds)
        return leg, units - fee_units
