"""The strategy base: one decision loop and the five wrapper actions; modes only say where to be.

A mode subclass implements three small hooks:

* :meth:`Strategy.target` — the target quantity of every instrument it manages, for a given deployable
  equity (USD) at the current prices;
* :meth:`Strategy.deployed_usd` — the deployable equity its current positions correspond to (used to
  scale positions down on a risk override);
* :meth:`Strategy.plan` — the actions (typed, :mod:`basis.bus.messages.actions`) that move the book
  toward a target with what is where now (``reduce_only``: only actions that shrink positions); each is
  sent to the execution router, which picks the venue by the action's type.

and may add :meth:`Strategy.rebalance_triggers` (reasons to rebalance below the deviation threshold), or
replace :meth:`Strategy.assess` (the target a decision aims for and the reasons to move toward it) when
the deviation from a target recomputed at every price is not what should make it trade.

The loop (on every ``PnlSnapshot``, i.e. once the tight loop position → exposure → risk → PnL has run):

1. It waits while instructions it sent are outstanding (router outcomes ``RouteCompleted``, venue
   outcomes for the payouts it sends to the wallet itself) and while a balance event it saw is not yet
   in a ``PositionSnapshot`` (so it never decides on a stale book).
2. It values the book with its own :class:`~basis.components.pricing.PriceBook`, fed the same market
   data as the monitors (so the numbers agree), and nets out the withdrawals it still owes.
3. Risk ``critical``: ``exit_partial`` scales positions down by ``risk_reduction`` with reduce-only
   orders (never an increase, never a transfer), at most once per clock instant.
   After a rejected instruction nothing else is decided in the same instant nor before
   ``reject_cooldown_s`` (doubled per further rejection until the book is back on target); such a
   decision is taken up at a later ``ClockTicked`` if no new tight loop comes.
4. Otherwise it rebalances (``entry_full`` / ``entry_partial`` / ``exit_partial`` / ``exit_full``, by how
   the deployed capital changes) when the largest deviation from the target exceeds
   ``position_deviation_threshold`` × equity, when investor money moved (a deposit was booked, a
   withdrawal is owed) or when the mode asks (:meth:`rebalance_triggers`); else it sells dust
   (``sell_dust``) or holds.
5. It pays investor withdrawals from the wallet (``Transfer`` to the investor, sent to the wallet venue)
   as soon as the wallet holds the amount.

Every decision is published as ``StrategyDecided`` before its instructions (which it causes); holds are
published when their reason changes. Ids come from the injected id factory and time from the injected
clock, so a replay decides the same way.

A restarted strategy process is rebuilt from the history of its run (:meth:`Strategy.history`): it decides
nothing while rebuilding; the decisions and instructions it had published are recalled
(:meth:`Strategy.recall`), so it knows what is still outstanding and which withdrawals it is paying, and
sends none of them again.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from basis.bus import subjects
from basis.bus.balances import BALANCE_EVENTS
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.component import Component
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    AnyAction,
    ClockTicked,
    ExposureSnapshot,
    FlowBooked,
    Instruction,
    InstructionCancelled,
    InstructionExpired,
    InstructionFilled,
    InstructionRejected,
    InvestorWithdrawal,
    Message,
    PnlSnapshot,
    PositionSnapshot,
    RiskAssessment,
    RouteCompleted,
    StrategyDecided,
    Swap,
    TransactionReverted,
    Transfer,
    WrapperAction,
)
from basis.components.pricing import PriceBook, PriceError, follow_prices

from ..router.actions import ROUTER
from .params import StrategyParams
from .view import Target, View
from .withdrawals import Withdrawal, WithdrawalQueue

if TYPE_CHECKING:
    from basis.configs.models import ModeConfig

log = logging.getLogger("basis.strategy")

NS_PER_S = 1_000_000_000
NEVER = 2**62
OUTCOMES: tuple[type[Message], ...] = (
    RouteCompleted,
    InstructionRejected,
    InstructionCancelled,
    InstructionExpired,
)
"""The final answers the strategy waits for, besides fills (and reverts, which are balance events)."""


@dataclass(frozen=True)
class Trigger:
    """Why a rebalance is due: a stable ``label`` (used in hold reasons) and a ``detail`` with numbers."""

    label: str
    detail: str


@dataclass
class Outstanding:
    """Instructions sent and not answered yet, by id (router parents and direct payouts)."""

    router: set[str] = field(default_factory=set)
    direct: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.router or self.direct)


P = TypeVar("P", bound=StrategyParams)
"""A strategy class's parameter type (its ``params_type``)."""


class Strategy(Component, Generic[P]):
    """Base of every strategy mode (see the module docstring)."""

    name = "strategy"
    params_type: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        params: P,
        *,
        prices: PriceBook | None = None,
    ) -> None:
        super().__init__(bus, clock, ids)
        if not isinstance(params, self.params_type):
            raise TypeError(
                f"{type(self).__name__} takes {self.params_type.__name__}, got {type(params).__name__}"
            )
        self.params = params
        self.prices = prices if prices is not None else PriceBook()
        self.positions: dict[str, float] = {}
        self.exposure: ExposureSnapshot | None = None
        self.risk: RiskAssessment | None = None
        self.pnl: PnlSnapshot | None = None
        self.withdrawals = WithdrawalQueue()
        self.outstanding = Outstanding()
        self.unbooked: set[str] = set()
        """Balance events seen and not yet reflected in a PositionSnapshot."""
        self.flows_pending = False
        self.rejected_at_ns: int | None = None
        self.failures = 0
        """Decisions with a rejected instruction since the book was last on target."""
        self._decision_failed = False
        self.last_failure = ""
        self.last_decision: StrategyDecided | None = None
        self.deciding_on: View | None = None
        """The book of the decision being taken (None when no decision is under way on a valued book)."""
        self._last_hold = ""
        self._tick_ns = -1
        self._decided_this_tick = 0
        self._risk_cut_ns: int | None = None
        self._risk_prices_version = -1
        self._due = False
        self._give_up_ns = NEVER
        """When the strategy stops waiting for the outcomes of the latest decision that sent instructions."""

    @classmethod
    def params_from_mode(cls, mode: ModeConfig, **overrides: Any) -> StrategyParams:
        """This class's parameters from a mode configuration; ``overrides`` replace any field."""
        return cls.params_type(**{**cls.mode_fields(mode), **overrides})

    @classmethod
    def mode_fields(cls, mode: ModeConfig) -> dict[str, Any]:
        """The parameter fields a mode configuration sets (subclasses add their own)."""
        return {
            "share_class": mode.share_class,
            "position_deviation_threshold": mode.position_deviation_threshold,
            "dust_threshold": mode.dust_threshold,
        }

    # --- mode hooks -------------------------------------------------------------------------------

    @abstractmethod
    def target(self, view: View, deployable_usd: float) -> Target:
        """Target quantity per instrument key when ``deployable_usd`` (USD) is invested."""

    @abstractmethod
    def deployed_usd(self, view: View) -> float:
        """The deployable equity (USD) the current positions correspond to."""

    @abstractmethod
    def plan(self, view: View, target: Target, *, reduce_only: bool) -> list[AnyAction]:
        """Actions that move the book toward ``target`` with the balances held now."""

    def rebalance_triggers(self, view: View) -> list[Trigger]:
        """Mode-specific reasons to rebalance even within the deviation threshold."""
        return []

    # --- wiring -----------------------------------------------------------------------------------

    async def on_start(self) -> None:
        await follow_prices(self.bus, self.prices)
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))
        await self.bus.subscribe("evt.*.*", self.on_event, types=(*BALANCE_EVENTS, *OUTCOMES))
        await self.bus.subscribe(
            subjects.evt("positions", "snapshot"), self.on_positions, types=(PositionSnapshot,)
        )
        await self.bus.subscribe(
            subjects.evt("exposure", "snapshot"), self.on_exposure, types=(ExposureSnapshot,)
        )
        await self.bus.subscribe(subjects.evt("risk", "assessment"), self.on_risk, types=(RiskAssessment,))
        await self.bus.subscribe(subjects.evt("pnl", "snapshot"), self.on_pnl, types=(PnlSnapshot,))
        await self.bus.subscribe(
            subjects.cmd("fund", "withdraw"), self.on_withdrawal, types=(InvestorWithdrawal,)
        )

    def history(self) -> tuple[str, ...]:
        """The market data, every event, the investors' withdrawals, and what it sent: its instructions to
        the router and its payouts from the wallet (its decisions are events)."""
        return (
            subjects.pattern(subjects.MD, ">"),
            subjects.pattern(subjects.EVT, "*", "*"),
            subjects.cmd("fund", "withdraw"),
            subjects.pattern(subjects.CMD, ROUTER, "*"),
            subjects.pattern(subjects.CMD, self.params.wallet, "*"),
        )

    def recall(self, message: Message) -> None:
        """What it had published before a restart: a decision on a valued book was taken with nothing
        outstanding (what it sent before has been answered or given up); its instructions are outstanding
        until answered, from the time they were sent; a payout pays the withdrawal it is correlated with."""
        match message:
            case StrategyDecided(action=action, reason=reason, equity=equity, instruction_ids=sent):
                if equity is not None:
                    self.outstanding.router.intersection_update(sent)
                    self.outstanding.direct.intersection_update(sent)
                self.last_decision = message
                self._last_hold = reason if action == "hold" else ""
                if action != "hold":
                    self.flows_pending = False
                    self._decision_failed = False
            case Instruction(id=iid, venue=venue, correlation_id=request_id):
                if venue == ROUTER:
                    self.outstanding.router.add(iid)
                else:
                    self.outstanding.direct.add(iid)
                    for withdrawal in self.withdrawals.unpaid():
                        if withdrawal.request_id == request_id:
                            self.withdrawals.paying(withdrawal, iid)
                            break
                self._give_up_ns = message.ts + round(self.params.outcome_timeout_s * NS_PER_S)

    def on_clock(self, message: ClockTicked) -> Awaitable[None] | None:
        """A decision left due (a rejection cooled down, the per-instant budget ran out) is taken at the
        next tick when no price moved since the last risk assessment: then no new tight loop is coming
        and the latest assessment still describes the book. (A plain function: most ticks leave nothing
        to do and cost no coroutine; the evaluation is returned for the bus to await.)"""
        self.prices.advance(message.ts)
        if message.ts >= self._give_up_ns:
            if self.outstanding:
                return self._stop_waiting(message)
            self._give_up_ns = NEVER  # everything came in: nothing to give up on
        if self._due and self.prices.version == self._risk_prices_version:
            return self.evaluate(message)
        return None

    async def _stop_waiting(self, tick: ClockTicked) -> None:
        """The outcomes of the last decision did not come in time: say so, and decide again on the book as
        it stands (what filled is in it). A payout stays being paid: it is never sent twice."""
        abandoned = sorted(self.outstanding.router | self.outstanding.direct)
        self.outstanding.router.clear()
        self.outstanding.direct.clear()
        self._give_up_ns = NEVER
        reason = (
            f"no outcome for {', '.join(abandoned)} after {self.params.outcome_timeout_s:g}s: "
            "deciding on the book as it stands"
        )
        log.warning("%s: %s", self.name, reason)
        decision = self.make(StrategyDecided, cause=tick, action="hold", reason=reason, target={})
        self.last_decision = decision
        self._last_hold = reason
        self._due = True
        await self.emit(decision)
        await self.evaluate(tick)

    def on_positions(self, message: PositionSnapshot) -> None:
        self.positions = dict(message.positions)
        self.unbooked.discard(message.through)

    def on_exposure(self, message: ExposureSnapshot) -> None:
        self.exposure = message

    def on_risk(self, message: RiskAssessment) -> None:
        self.risk = message
        self._risk_prices_version = self.prices.version

    def on_event(self, message: Message) -> None:
        match message:
            case RouteCompleted(instruction_id=iid, filled=filled, reason=reason):
                if iid in self.outstanding.router:
                    self.outstanding.router.discard(iid)
                    if not filled:
                        self._rejected(f"{iid}: {reason}")
            case InstructionRejected(instruction_id=iid, reason=reason):
                self._direct_failed(iid, reason)
            case InstructionCancelled(instruction_id=iid, reason=reason):
                self._direct_failed(iid, f"cancelled ({reason})")
            case InstructionExpired(instruction_id=iid):
                self._direct_failed(iid, "expired")
            case TransactionReverted(instruction_id=iid, reason=reason):
                self.unbooked.add(message.id)  # its gas moved a balance
                self._direct_failed(iid, f"reverted: {reason}")
            case InstructionFilled(instruction_id=iid):
                self.unbooked.add(message.id)
                if iid in self.outstanding.direct:
                    self.outstanding.direct.discard(iid)
                    self.withdrawals.paid(iid)
            case FlowBooked(kind="deposit"):
                self.unbooked.add(message.id)
                self.flows_pending = True
            case _:
                self.unbooked.add(message.id)

    def _direct_failed(self, iid: str, reason: str) -> None:
        """A payout the strategy sent itself ended without paying: the withdrawal is owed again."""
        if iid in self.outstanding.direct:
            self.outstanding.direct.discard(iid)
            self.withdrawals.failed(iid)
            self._rejected(f"{iid}: {reason}")

    async def on_withdrawal(self, message: InvestorWithdrawal) -> None:
        if message.asset != self.params.share_class:
            await self._hold(
                f"withdrawal {message.id} refused: amount in {message.asset}, share class is {self.params.share_class}",
                cause=message,
            )
            return
        self.withdrawals.request(message.id, message.amount)
        self.flows_pending = True
        await self.evaluate(message)

    async def on_pnl(self, message: PnlSnapshot) -> None:
        self.pnl = message
        await self.evaluate(message)

    def _rejected(self, detail: str) -> None:
        self.last_failure = detail
        if not self._decision_failed:
            self.failures += 1  # once per decision, however many of its instructions failed
            self._decision_failed = True
        self.rejected_at_ns = self.clock.now_ns()
        self._due = True
        log.info("strategy: instruction failed: %s", detail)

    # --- the decision -----------------------------------------------------------------------------

    def waiting(self) -> bool:
        """True while the book may still move under the strategy (see the module docstring, step 1)."""
        return bool(self.outstanding or self.unbooked)

    def cooling_down(self) -> bool:
        """True after a rejection until its cooldown has passed (never in the instant of the rejection)."""
        if self.rejected_at_ns is None:
            return False
        now = self.clock.now_ns()
        return now == self.rejected_at_ns or now < self.rejected_at_ns + self.cooldown_ns()

    def cooldown_ns(self) -> int:
        """The wait after the latest rejection: ``reject_cooldown_s`` doubled per rejection in a row."""
        p = self.params
        seconds = min(p.reject_cooldown_s * 2.0 ** max(0, self.failures - 1), p.max_reject_cooldown_s)
        return round(seconds * NS_PER_S)

    def view(self) -> View:
        return View(
            positions=self.positions,
            prices=self.prices,
            share_class=self.params.share_class,
            withdrawing=self.withdrawals.owed,
            withdrawal_buffer=self.params.withdrawal_buffer,
            risk=self.risk,
        )

    async def evaluate(self, cause: Message) -> None:
        """Decide once, if nothing is in flight. A risk override does not wait for a rejection's
        cooldown; anything else does (and is taken at a later tick, see :meth:`on_clock`). Nothing is decided
        while rebuilding: what was decided then is recalled."""
        if self.rebuilding or self.waiting():
            return
        self.deciding_on = None
        try:
            view = self.view()
        except PriceError as exc:
            await self._hold(f"no usable price for {exc.key} ({type(exc).__name__})", cause=cause)
            return
        self.deciding_on = view
        try:
            if view.risk is not None and view.risk.level == "critical":
                self._due = False
                await self._risk_override(view, cause)
                return
            if self.cooling_down():
                self._due = True
                return
            self._due = False
            await self.decide(view, cause)
        finally:
            self.deciding_on = None

    def assess(self, view: View) -> tuple[Target, list[Trigger]]:
        """The target a decision aims for and the reasons to rebalance toward it now (none: hold). By
        default the target for the deployable equity at the current prices and :meth:`triggers`."""
        target = self.target(view, view.deployable_usd)
        return target, self.triggers(view, target)

    async def decide(self, view: View, cause: Message) -> None:
        """Rebalance when a trigger fires, else sell dust, else hold."""
        target, triggers = self.assess(view)
        if not triggers:
            dust = self.dust_orders(view)
            if dust:
                await self.sell_dust(view, cause, dust)
            else:
                self.failures = 0  # back on target: the next rejection starts a fresh cooldown
                await self._hold("within threshold", cause=cause, target=target)
            return
        reason = "; ".join(t.detail for t in triggers)
        labels = ", ".join(dict.fromkeys(t.label for t in triggers))
        await self.rebalance_to(target, view, cause, reason=reason, hold_reason=f"nothing to send ({labels})")

    async def rebalance_to(
        self, target: Target, view: View, cause: Message, *, reason: str, hold_reason: str
    ) -> bool:
        """Move toward ``target`` with the wrapper action it is (:meth:`classify`); True when sent."""
        wrapper = {
            "entry_full": self.entry_full,
            "entry_partial": self.entry_partial,
            "exit_partial": self.exit_partial,
            "exit_full": self.exit_full,
        }[self.classify(view, target)]
        return await wrapper(view, cause, reason=reason, target=target, hold_reason=hold_reason)

    async def _risk_override(self, view: View, cause: Message) -> None:
        assert view.risk is not None
        breaches = ", ".join(view.risk.breaches) or "level critical"
        now = self.clock.now_ns()
        if self._risk_cut_ns == now:
            await self._hold("risk critical: cut already made at this instant", cause=cause)
            return
        if self.deployed_usd(view) <= self.params.min_order_usd:
            await self._hold("risk critical: nothing to reduce", cause=cause)
            return
        fraction = self.params.risk_reduction
        sent = await self.exit_partial(
            view,
            cause,
            reason=f"risk critical ({breaches}): scale down {fraction:.0%}, reduce-only",
            fraction=fraction,
        )
        if sent:
            self._risk_cut_ns = now

    def triggers(self, view: View, target: Target) -> list[Trigger]:
        found = self.deviation_triggers(view, target)
        found += self.rebalance_triggers(view)
        found += self.investor_triggers(view)
        return found

    def deviation_triggers(self, view: View, target: Target) -> list[Trigger]:
        """The book further from ``target`` than ``position_deviation_threshold`` × equity."""
        gap, key = self.deviation(view, target)
        threshold = self.params.position_deviation_threshold
        if gap > threshold:
            return [Trigger("deviation", f"deviation {gap:.2%} of equity at {key} > {threshold:.2%}")]
        return []

    def investor_triggers(self, view: View) -> list[Trigger]:
        """Investor money moved (a deposit booked) or withdrawals are owed."""
        found: list[Trigger] = []
        if self.flows_pending:
            found.append(Trigger("flows", "investor capital moved"))
        if len(self.withdrawals):
            found.append(
                Trigger("withdrawal", f"withdrawals owed: {self.withdrawals.owed:g} {view.share_class}")
            )
        return found

    def deviation(self, view: View, target: Target) -> tuple[float, str]:
        """The largest |target − current| × unit value over the target's keys, as a fraction of equity."""
        worst, at = 0.0, ""
        wanted = target.positions
        held = view.positions
        unit_usd = view.prices.unit_value_usd  # = view.unit_usd
        for key in sorted(wanted):
            gap = abs(wanted[key] - held.get(key, 0.0)) * abs(unit_usd(key))
            if gap > worst:
                worst, at = gap, key
        if worst == 0.0:
            return 0.0, ""
        if view.equity_usd <= 0.0:
            return float("inf"), at
        return worst / view.equity_usd, at

    def classify(self, view: View, target: Target) -> WrapperAction:
        """Which wrapper action a rebalance to ``target`` is, by the change of capital deployed."""
        eps = self.params.min_order_usd
        now = sum(abs(view.qty(k)) * abs(view.unit_usd(k)) for k in sorted(target.legs))
        then = sum(abs(target.get(k)) * abs(view.unit_usd(k)) for k in sorted(target.legs))
        if then <= eps:
            return "exit_full" if now > eps or len(self.withdrawals) else "entry_full"
        if now <= eps:
            return "entry_full"
        return "entry_partial" if then >= now else "exit_partial"

    # --- the five wrapper actions -----------------------------------------------------------------

    async def entry_full(
        self, view: View, cause: Message, *, reason: str, target: Target | None = None, hold_reason: str = ""
    ) -> bool:
        """Deploy all deployable equity (first entry, or capital back after a full exit)."""
        target = target or self.target(view, view.deployable_usd)
        return await self._rebalance("entry_full", view, cause, reason, target, hold_reason=hold_reason)

    async def entry_partial(
        self, view: View, cause: Message, *, reason: str, target: Target | None = None, hold_reason: str = ""
    ) -> bool:
        """Scale positions up to the target (deposits, PnL gains, collateral moves)."""
        target = target or self.target(view, view.deployable_usd)
        return await self._rebalance("entry_partial", view, cause, reason, target, hold_reason=hold_reason)

    async def exit_partial(
        self,
        view: View,
        cause: Message,
        *,
        reason: str,
        target: Target | None = None,
        fraction: float | None = None,
        hold_reason: str = "",
    ) -> bool:
        """Scale positions down: to ``target`` (withdrawals, losses), or by ``fraction`` of what is held
        now with reduce-only orders (risk override)."""
        if fraction is not None:
            reduced = self.target(view, self.deployed_usd(view) * (1.0 - fraction))
            return await self._rebalance(
                "exit_partial",
                view,
                cause,
                reason,
                reduced,
                reduce_only=True,
                hold_reason="risk critical: nothing to reduce",
            )
        target = target or self.target(view, view.deployable_usd)
        return await self._rebalance("exit_partial", view, cause, reason, target, hold_reason=hold_reason)

    async def exit_full(
        self, view: View, cause: Message, *, reason: str, target: Target | None = None, hold_reason: str = ""
    ) -> bool:
        """Close every position (everything withdrawn)."""
        target = target or self.target(view, 0.0)
        return await self._rebalance("exit_full", view, cause, reason, target, hold_reason=hold_reason)

    async def sell_dust(self, view: View, cause: Message, orders: list[Swap] | None = None) -> bool:
        """Sell reward tokens worth more than ``dust_threshold`` of equity into the share class (or
        ``dust_into``)."""
        orders = self.dust_orders(view) if orders is None else orders
        if not orders:
            return False
        tokens = ", ".join(o.sell_asset for o in orders)
        await self._send(
            "sell_dust",
            f"dust above {self.params.dust_threshold:.2%} of equity: {tokens}",
            None,
            orders,
            [],
            cause,
        )
        return True

    def dust_orders(self, view: View) -> list[Swap]:
        orders: list[Swap] = []
        for token in self.params.dust_tokens:
            quantity = view.token(self.params.wallet, token)
            if quantity <= 0:
                continue
            try:
                value = quantity * view.price(token)
            except PriceError:
                continue
            if value >= max(self.params.dust_threshold * view.equity_usd, self.params.min_order_usd):
                into = self.params.dust_into or self.params.share_class
                orders.append(Swap(sell_asset=token, buy_asset=into, amount=quantity))
        return orders

    # --- sending ----------------------------------------------------------------------------------

    async def _rebalance(
        self,
        action: WrapperAction,
        view: View,
        cause: Message,
        reason: str,
        target: Target,
        *,
        reduce_only: bool = False,
        hold_reason: str = "",
    ) -> bool:
        orders = self.plan(view, target, reduce_only=reduce_only)
        payouts = self.payouts(view, unwinding=bool(orders))
        if not orders and not payouts:
            await self._hold(hold_reason or f"{action}: nothing to send", cause=cause, target=target)
            return False
        if self._over_budget():
            self._due = True
            await self._hold("decision limit per clock instant reached", cause=cause, target=target)
            return False
        await self._send(action, reason, target, orders, payouts, cause)
        return True

    def payouts(self, view: View, *, unwinding: bool) -> list[tuple[Withdrawal, float]]:
        """Withdrawals the wallet can pay now, oldest first: in full, or what the wallet holds when that is
        within ``payout_tolerance`` (or one minimum order) of the amount. When nothing is left to unwind
        (no other order, no capital deployable) a withdrawal larger than the wallet is paid what it holds."""
        share = self.params.share_class
        available = view.token(self.params.wallet, share)
        out: list[tuple[Withdrawal, float]] = []
        for withdrawal in self.withdrawals.unpaid():
            tolerance = max(
                self.params.min_order_usd / view.share_price, self.params.payout_tolerance * withdrawal.amount
            )
            if available >= withdrawal.amount - tolerance:
                amount = min(withdrawal.amount, available)
            elif not unwinding and view.deployable_usd <= 0.0 and available > 0.0:
                amount = available  # shortfall: everything is unwound, pay what is left
            else:
                break
            out.append((withdrawal, amount))
            available -= amount
        return out

    def _over_budget(self) -> bool:
        now = self.clock.now_ns()
        if now != self._tick_ns:
            self._tick_ns, self._decided_this_tick = now, 0
        return self._decided_this_tick >= self.params.max_decisions_per_tick

    async def _send(
        self,
        action: WrapperAction,
        reason: str,
        target: Target | None,
        orders: Sequence[AnyAction],
        payouts: list[tuple[Withdrawal, float]],
        cause: Message,
    ) -> None:
        self._over_budget()
        self._decided_this_tick += 1
        now = self.clock.now_ns()
        decision_id = self.ids.next_id()
        instructions: list[Instruction] = []
        for order in orders:
            instructions.append(
                Instruction(
                    id=self.ids.next_id(),
                    ts=now,
                    causation_id=decision_id,
                    correlation_id=decision_id,
                    venue=ROUTER,
                    action=order,
                )
            )
        for withdrawal, amount in payouts:
            payout = Instruction(
                id=self.ids.next_id(),
                ts=now,
                causation_id=decision_id,
                correlation_id=withdrawal.request_id,
                venue=self.params.wallet,
                action=Transfer(
                    source=self.params.wallet,
                    destination=self.params.investor,
                    asset=self.params.share_class,
                    amount=amount,
                ),
            )
            self.withdrawals.paying(withdrawal, payout.id)
            instructions.append(payout)
        if payouts:
            reason = f"{reason}; pay {sum(a for _, a in payouts):g} {self.params.share_class} to investors"
        decision = StrategyDecided(
            id=decision_id,
            ts=now,
            causation_id=cause.id,
            correlation_id=decision_id,
            action=action,
            reason=reason,
            target=dict(target.positions) if target is not None else {},
            instruction_ids=tuple(i.id for i in instructions),
            **self._inputs(),
        )
        for instruction in instructions:
            (self.outstanding.router if instruction.venue == ROUTER else self.outstanding.direct).add(
                instruction.id
            )
        if instructions:
            self._give_up_ns = now + round(self.params.outcome_timeout_s * NS_PER_S)
        self.flows_pending = False
        self._decision_failed = False
        self._last_hold = ""
        self.last_decision = decision
        if log.isEnabledFor(logging.DEBUG):  # describing every order costs more than the decision
            log.debug("%s: %s (%s) %s", self.name, action, reason, [o.describe() for o in orders])
        await self.emit(decision)
        for instruction in instructions:
            await self.emit(instruction)

    def _inputs(self) -> dict[str, Any]:
        """The book the decision being made is taken on, for its ``StrategyDecided``."""
        view = self.deciding_on
        if view is None:
            return {}
        risk = view.risk.level if view.risk is not None else ""
        return {"equity": view.equity, "withdrawing": view.withdrawing, "risk_level": risk}

    async def _hold(self, reason: str, *, cause: Message, target: Target | None = None) -> None:
        """Publish a hold when its reason differs from the last hold published."""
        if reason == self._last_hold:
            return
        self._last_hold = reason
        decision = self.make(
            StrategyDecided,
            cause=cause,
            action="hold",
            reason=reason,
            target=dict(target.positions) if target is not None else {},
            **self._inputs(),
        )
        self.last_decision = decision
        await self.emit(decision)
