"""What the report reads back from a run's log: the strategy's decisions with what followed each, the
moves of funds, the emergencies and the optimizer's verdicts on the timeline, the funding each venue
settled over time, and the risk limits the run was configured with.

Like :mod:`.activity`, a projection over the log (``process_event`` in log order, then the figures):

- **decisions**: every ``StrategyDecided``; the instructions it caused (the strategy's own, and under
  each one the instructions the router sent for it) and every outcome that names one of them (accepted,
  filled, rejected, cancelled, expired, a routed instruction's completion). Everything that follows a
  decision carries its id as ``correlation_id``.
- **moves**: every transfer between accounts (an instruction whose action is a ``Transfer``) and every
  on-chain move (``Stake``, ``Unstake``, ``Swap``, ``AtomicBundle``) a venue was asked to do: sent at the
  instruction's time, completed at its ``TransferCompleted`` (a transfer, or an unstake whose ETH comes
  out of the queue later) or else its fill. An instruction to the router counts only when the router
  sent nothing on for it (a route that failed); otherwise the instructions it sent are the moves.
- **emergencies**: every ``EmergencyAction``; **verdicts**: every ``RebalanceAssessed``; **liquidations**:
  every ``Liquidated``. Each names the decision that acted on it: the one it caused, else the next
  decision at the same instant (the strategy publishes what it found before the decision).
- **funding**: per venue, the running sum of ``Settled`` funding (in the asset it settles in) at each
  settlement inside the window. A settlement's ``causation_id`` is the ``FundingRate`` it settled, so
  its notional is ``|amount ÷ rate|`` (the venue pays ``−contracts × mark × rate``); a settlement at a
  zero rate moves nothing and counts the venue's previous notional.
  The **realised funding APR** of a venue is Σ amount ÷ Σ (notional × interval ÷ one year): what its
  positions earned per unit of notional held, per year. Its **average rate** is the mean of the funding
  rates the venue published over the window for the symbols it settled, each × (one year ÷ its
  interval), as a short receives it.
- **limits**: the mode's ``risk`` section and its ``target_ltv`` / ``max_ltv`` from ``RunStarted``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from basis.bus.messages import (
    AtomicBundle,
    EmergencyAction,
    FundingRate,
    Instruction,
    InstructionAccepted,
    InstructionCancelled,
    InstructionExpired,
    InstructionFilled,
    InstructionRejected,
    Liquidated,
    Message,
    RebalanceAssessed,
    RouteCompleted,
    RunStarted,
    SetEMode,
    Settled,
    Stake,
    StepAction,
    StrategyDecided,
    Swap,
    Transfer,
    TransferCompleted,
    Unstake,
)

HOURS_PER_YEAR = 365.0 * 24.0
SKIPPED = ("md.bar.", "md.gas.", "md.price.", "md.reserve.", "md.lst.", "md.reward.", "evt.positions.")
"""Subjects the report never reads: not decoded at all."""


@dataclass(slots=True)
class Step:
    """One instruction and what became of it."""

    id: str
    venue: str
    text: str
    outcomes: list[str] = field(default_factory=list)
    status: str = "sent"
    children: list[Step] = field(default_factory=list)


@dataclass(slots=True)
class Decision:
    id: str
    ts: int
    action: str
    reason: str
    steps: list[Step] = field(default_factory=list)
    acted_on: list[EmergencyAction | RebalanceAssessed | Liquidated] = field(default_factory=list)
    """The emergencies, verdicts and liquidations this decision acted on."""

    @property
    def status(self) -> str:
        """``filled`` when every step filled, ``rejected`` when any step was refused or failed, else the
        state of the first step that did not finish (``-`` for a decision without instructions)."""
        if not self.steps:
            return "-"
        states = [s.status for s in self.steps]
        if all(s == "filled" for s in states):
            return "filled"
        if any(s in ("rejected", "failed") for s in states):
            return "rejected"
        return next(s for s in states if s != "filled")


Moved = Transfer | Stake | Unstake | Swap | AtomicBundle
MOVES = (Transfer, Stake, Unstake, Swap, AtomicBundle)
E = TypeVar("E", EmergencyAction, RebalanceAssessed, Liquidated)


@dataclass(slots=True)
class Move:
    """One move of funds: a transfer between accounts or an on-chain stake, unstake, swap or bundle."""

    id: str
    venue: str
    action: Moved
    sent: int
    decision: str
    """The decision that caused it ('' when none did, e.g. a payout to investors)."""
    completed: int | None = None
    status: str = "in flight"
    """``in flight`` until it completes (``completed``), or ``rejected``, ``failed``, ``cancelled``,
    ``expired``; ``detail`` says why."""
    detail: str = ""
    fee: float = 0.0
    forwarded: bool = False
    """An instruction to the router that the router sent on (its children are the moves)."""

    @property
    def kind(self) -> str:
        return self.action.kind

    @property
    def asset(self) -> str:
        match self.action:
            case Transfer(asset=asset):
                return asset
            case Stake():
                return "ETH"
            case Unstake(token=token):
                return token
            case Swap(sell_asset=asset):
                return asset
            case AtomicBundle(flash_loan=loan):
                return loan.asset if loan is not None else ""

    def describe(self) -> str:
        """What moved where, in a line: ``wallet → binance 82,031.1 USDT``."""
        match self.action:
            case Transfer(source=source, destination=destination, asset=asset, amount=amount):
                return f"{source} → {destination} {amount:,.6g} {asset}"
            case AtomicBundle(steps=steps, flash_loan=loan):
                parts = [f"flash loan {loan.amount:,.6g} {loan.asset} ({loan.venue})"] if loan else []
                return "; ".join([*parts, *(f"{s.venue} {step_text(s.action)}" for s in steps)])
            case _:
                return f"{self.venue} {step_text(self.action)}"


def step_text(action: StepAction) -> str:
    """``stake 1.5 ETH → weETH``, ``swap 10 weETH → USDT``, ``borrow 3 WETH``, ``set_emode 1``."""
    match action:
        case Stake(token=token, amount=amount):
            return f"stake {amount:,.6g} ETH → {token}"
        case Unstake(token=token, amount=amount):
            return f"unstake {amount:,.6g} {token} → ETH"
        case Swap(sell_asset=sell, buy_asset=buy, amount=amount):
            return f"swap {amount:,.6g} {sell} → {buy}"
        case SetEMode(category=category):
            return f"set_emode {category}"
        case _:
            return f"{action.kind} {action.amount:,.6g} {action.asset}"


@dataclass(slots=True)
class Flagged(Generic[E]):
    """An event the timeline shows, and the decision that acted on it ('' when none did)."""

    event: E
    decision: str = ""


@dataclass(slots=True)
class VenueFunding:
    asset: str
    times: list[int] = field(default_factory=list)
    cumulative: list[float] = field(default_factory=list)
    notional_years: float = 0.0
    """Σ notional × interval ÷ one year."""
    rate_sum: float = 0.0
    rate_count: int = 0
    symbols: set[str] = field(default_factory=set)
    last_notional: float = 0.0

    @property
    def total(self) -> float:
        return self.cumulative[-1] if self.cumulative else 0.0

    @property
    def realised_apr(self) -> float | None:
        return self.total / self.notional_years if self.notional_years > 0 else None

    @property
    def average_rate_apr(self) -> float | None:
        return self.rate_sum / self.rate_count if self.rate_count else None


@dataclass(slots=True)
class ReportLog:
    """Feed it the run's messages in log order (:meth:`process_event`), then read its fields."""

    start: int
    end: int
    decisions: list[Decision] = field(default_factory=list)
    emergencies: list[Flagged[EmergencyAction]] = field(default_factory=list)
    verdicts: list[Flagged[RebalanceAssessed]] = field(default_factory=list)
    liquidations: list[Flagged[Liquidated]] = field(default_factory=list)
    funding: dict[str, VenueFunding] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    _decisions: dict[str, Decision] = field(default_factory=dict)
    _steps: dict[str, Step] = field(default_factory=dict)
    _moves: dict[str, Move] = field(default_factory=dict)
    """Every move in the order sent, by instruction id (router ones included)."""
    _decision_of: dict[str, str] = field(default_factory=dict)
    """The decision that caused each instruction, by instruction id."""
    _awaiting: list[Flagged[Any]] = field(default_factory=list)
    """Flagged events not yet acted on by a decision."""
    _rates: dict[tuple[str, str], FundingRate] = field(default_factory=dict)
    """The latest funding rate of each (venue, symbol)."""
    _window_rates: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    """Annualised rates inside the window per (venue, symbol), until the venue is known to settle it."""

    @property
    def moves(self) -> list[Move]:
        """Every move a venue was asked to do, in the order sent."""
        return [m for m in self._moves.values() if not m.forwarded]

    def process_event(self, message: Message) -> None:
        match message:
            case StrategyDecided():
                decision = Decision(message.id, message.ts, message.action, message.reason)
                self.decisions.append(decision)
                self._decisions[message.id] = decision
                self._acted_on(message)
            case Instruction():
                self._instruction(message)
                if isinstance(message.action, MOVES):
                    self._move(message, message.action)
            case TransferCompleted():
                move = self._moves.get(message.instruction_id)
                if move is not None:
                    move.completed, move.status, move.fee = message.ts, "completed", message.fee
            case EmergencyAction():
                self._flag(self.emergencies, message)
            case RebalanceAssessed():
                self._flag(self.verdicts, message)
            case Liquidated():
                self._flag(self.liquidations, message)
            case InstructionFilled():
                changes = ", ".join(f"{c.instrument} {c.delta:+,.6g}" for c in message.changes)
                costs = f"; fee {message.fee:,.6g} {message.fee_asset}" if message.fee else ""
                gas = f"; gas {message.gas_eth:.3g} ETH" if message.gas_eth else ""
                partly = f"; {message.remaining:,.6g} still open" if message.remaining else ""
                self._outcome(
                    message.instruction_id,
                    "filled" if not message.remaining else "partially_filled",
                    f"filled: {changes}{costs}{gas}{partly}",
                )
                self._filled(message)
            case InstructionRejected():
                detail = f" ({message.detail})" if message.detail else ""
                self._outcome(message.instruction_id, "rejected", f"rejected: {message.reason}{detail}")
                self._ended(message.instruction_id, "rejected", f"{message.reason}{detail}")
            case InstructionAccepted():
                self._outcome(message.instruction_id, None, f"accepted by {message.venue}")
            case InstructionCancelled() | InstructionExpired():
                word = "cancelled" if isinstance(message, InstructionCancelled) else "expired"
                self._outcome(message.instruction_id, word, word)
                self._ended(message.instruction_id, word, "")
            case RouteCompleted():
                legs = "; ".join(
                    f"{leg.venue} {leg.state}" + (f" ({leg.reason})" if leg.reason else "")
                    for leg in message.legs
                )
                text = "route filled" if message.filled else f"route failed: {message.reason}"
                self._outcome(
                    message.instruction_id,
                    "filled" if message.filled else "failed",
                    f"{text}" + (f"; legs: {legs}" if legs else ""),
                )
                if not message.filled:
                    self._ended(message.instruction_id, "failed", message.reason)
            case FundingRate():
                self._rate(message)
            case Settled(kind="funding"):
                self._settled(message)
            case RunStarted():
                self.limits = limits_of(message.config)
            case _:
                pass

    def _instruction(self, message: Instruction) -> None:
        cause = message.causation_id
        decided = cause if cause in self._decisions else self._decision_of.get(cause)
        if decided is not None:
            self._decision_of[message.id] = decided
        step = Step(message.id, message.venue, message.describe())
        self._steps[message.id] = step
        parent = self._steps.get(message.causation_id)
        if parent is not None:
            parent.children.append(step)
            return
        decision = self._decisions.get(message.causation_id)
        if decision is not None:
            decision.steps.append(step)

    def _move(self, message: Instruction, action: Moved) -> None:
        parent = self._moves.get(message.causation_id)
        if parent is not None:
            parent.forwarded = True
        decision = self._decision_of.get(message.id, "")
        self._moves[message.id] = Move(message.id, message.venue, action, message.ts, decision)

    def _filled(self, message: InstructionFilled) -> None:
        """A fill completes a move, except the departure of a transfer or an unstake (what leaves
        arrives later, as a ``TransferCompleted``)."""
        move = self._moves.get(message.instruction_id)
        if move is None or message.remaining or isinstance(move.action, Transfer | Unstake):
            return
        move.completed, move.status = message.ts, "completed"

    def _ended(self, instruction_id: str, status: str, detail: str) -> None:
        move = self._moves.get(instruction_id)
        if move is not None and move.completed is None:
            move.status, move.detail = status, detail

    def _flag(self, into: list[Flagged[E]], message: E) -> None:
        """Keep ``message``; a decision that caused it (or shares its correlation) acted on it already."""
        known = next((i for i in (message.causation_id, message.correlation_id) if i in self._decisions), "")
        flagged = Flagged(message, known)
        into.append(flagged)
        if known:
            self._decisions[known].acted_on.append(message)
        else:
            self._awaiting.append(flagged)

    def _acted_on(self, decision: StrategyDecided) -> None:
        """The flagged events this decision acts on: the one that caused it, and those of its instant."""
        for flagged in self._awaiting:
            if flagged.event.ts == decision.ts or flagged.event.id == decision.causation_id:
                flagged.decision = decision.id
                self._decisions[decision.id].acted_on.append(flagged.event)
        self._awaiting = [f for f in self._awaiting if not f.decision and f.event.ts > decision.ts]

    def _outcome(self, instruction_id: str, status: str | None, text: str) -> None:
        step = self._steps.get(instruction_id)
        if step is None:
            return
        step.outcomes.append(text)
        if status is not None:
            step.status = status

    def _rate(self, message: FundingRate) -> None:
        key = (message.venue, message.symbol)
        self._rates[key] = message
        if self.start <= message.ts < self.end:
            apr = message.rate * HOURS_PER_YEAR / message.interval_hours
            funding = self.funding.get(message.venue)
            if funding is not None and message.symbol in funding.symbols:
                funding.rate_sum += apr
                funding.rate_count += 1
            else:
                self._window_rates.setdefault(key, []).append(apr)

    def _settled(self, message: Settled) -> None:
        if not self.start <= message.ts < self.end:
            return
        funding = self.funding.setdefault(message.venue, VenueFunding(message.asset))
        rate = next(
            (
                r
                for (venue, _), r in self._rates.items()
                if venue == message.venue and r.id == message.causation_id
            ),
            None,
        )
        if rate is not None:
            if rate.symbol not in funding.symbols:
                funding.symbols.add(rate.symbol)
                earlier = self._window_rates.pop((message.venue, rate.symbol), [])
                funding.rate_sum += sum(earlier)
                funding.rate_count += len(earlier)
            if rate.rate != 0:
                funding.last_notional = abs(message.amount / rate.rate)
            funding.notional_years += funding.last_notional * rate.interval_hours / HOURS_PER_YEAR
        funding.times.append(message.ts)
        funding.cumulative.append(funding.total + message.amount)


def report_log_of(messages: Iterable[Message], window: tuple[int, int]) -> ReportLog:
    log = ReportLog(window[0], window[1])
    for message in messages:
        log.process_event(message)
    return log


def read_report_log(store_url: str, run_id: str, window: tuple[int, int]) -> ReportLog:
    """:func:`report_log_of` the messages of run ``run_id`` in the store at ``store_url`` (market data
    other than funding rates is not decoded)."""
    from basis.bus.codec import decode
    from basis.bus.store import open_store

    with open_store(store_url) as store:
        records = store.read(run_id=run_id)
        return report_log_of((decode(r.data) for r in records if not r.subject.startswith(SKIPPED)), window)


def limits_of(config: dict[str, Any]) -> dict[str, float]:
    """The mode's risk limits and LTV targets from a run's configuration."""
    mode = config.get("mode", {})
    limits = {k: float(v) for k, v in mode.get("risk", {}).items() if v is not None}
    for key in ("target_ltv", "max_ltv"):
        if mode.get(key) is not None:
            limits[key] = float(mode[key])
    return limits
