"""Events: what happened, published on ``evt.<source>.<kind>``."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .base import Message

SettlementKind = Literal["funding", "lending_interest", "borrow_cost", "staking", "rewards"]
RiskLevel = Literal["ok", "warning", "critical"]
WrapperAction = Literal["entry_full", "entry_partial", "exit_full", "exit_partial", "sell_dust", "hold"]
InstructionState = Literal[
    "unknown", "executing", "accepted", "partially_filled", "filled", "cancelled", "expired", "rejected"
]
"""Where an instruction stands at its venue: ``unknown`` (never received), ``executing`` (received, no
outcome yet), ``accepted`` / ``partially_filled`` (open), or one of the four final states."""
FINAL_STATES: frozenset[str] = frozenset({"filled", "cancelled", "expired", "rejected"})


class InstructionAccepted(Message, frozen=True, kw_only=True):
    instruction_id: str
    venue: str


class InstructionRejected(Message, frozen=True, kw_only=True):
    """The venue refused the instruction (or could not carry it out): its final answer, nothing moved.
    ``reason`` is a stable code (:mod:`basis.venues.errors`), ``detail`` the human explanation, ``step``
    the index of the step that failed when the instruction is a bundle."""

    instruction_id: str
    venue: str
    reason: str
    transient: bool = False
    detail: str = ""
    step: int | None = None


class Fill(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One balance change caused by an instruction: ``instrument`` is a canonical key, ``delta`` signed."""

    instrument: str
    delta: float
    price: float = 0.0


class InstructionFilled(Message, frozen=True, kw_only=True):
    """An instruction was carried out, in full or in part. ``changes`` lists every balance this fill moved
    (canonical instrument keys); ``fee`` and ``gas`` are costs in ``fee_asset`` / ETH already included in
    ``changes``. ``remaining`` is the size still open after this fill, in the units of the action's size
    (a trade's quantity, an amount): 0 when the instruction is complete, so a partially filled order
    publishes one ``InstructionFilled`` per fill, the last with ``remaining=0`` (or a cancellation or an
    expiry ends it)."""

    instruction_id: str
    venue: str
    changes: tuple[Fill, ...]
    fee: float = 0.0
    fee_asset: str = ""
    gas_eth: float = 0.0
    remaining: float = 0.0


class InstructionCancelled(Message, frozen=True, kw_only=True):
    """What was still open of an instruction is cancelled (on request, by its time in force, or by the
    venue); ``filled`` is how much of it had been filled, in the units of the action's size."""

    instruction_id: str
    venue: str
    reason: str
    filled: float = 0.0


class InstructionExpired(Message, frozen=True, kw_only=True):
    """An instruction's time in force ran out with ``filled`` of it filled (the rest is not executed)."""

    instruction_id: str
    venue: str
    filled: float = 0.0


class TransactionSubmitted(Message, frozen=True, kw_only=True):
    """An on-chain venue sent the transaction of an instruction: ``tx_hash`` from ``nonce`` of its
    account. Balances move only when it is mined (``InstructionFilled``)."""

    instruction_id: str
    venue: str
    tx_hash: str
    nonce: int


class TransactionMined(Message, frozen=True, kw_only=True):
    """The transaction is in block ``block`` and succeeded; the instruction's ``InstructionFilled`` follows."""

    instruction_id: str
    venue: str
    tx_hash: str
    block: int
    gas_used: int


class TransactionReverted(Message, frozen=True, kw_only=True):
    """The transaction was mined and reverted: the instruction's final answer. Nothing moved but the gas,
    which ``changes`` books (``wallet:BaseToken:ETH −gas_eth``). ``reason`` is the decoded revert reason,
    naming the step of a bundle (``step 3: HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD``)."""

    instruction_id: str
    venue: str
    tx_hash: str
    block: int
    reason: str
    changes: tuple[Fill, ...] = ()
    gas_eth: float = 0.0


class TransactionReplaced(Message, frozen=True, kw_only=True):
    """The transaction ``tx_hash`` was replaced by ``replaced_by`` (same nonce, higher fee); the
    instruction's outcome follows for the new hash."""

    instruction_id: str
    venue: str
    tx_hash: str
    replaced_by: str


class Settled(Message, frozen=True, kw_only=True):
    """A periodic cash flow credited (positive) or debited (negative) to ``instrument``."""

    venue: str
    instrument: str
    kind: SettlementKind
    amount: float
    asset: str


class TransferCompleted(Message, frozen=True, kw_only=True):
    """Funds arrived at ``destination``; ``changes`` credits them (the departure was a fill)."""

    instruction_id: str
    source: str
    destination: str
    asset: str
    amount: float
    fee: float = 0.0
    changes: tuple[Fill, ...] = ()


class Liquidated(Message, frozen=True, kw_only=True):
    venue: str
    changes: tuple[Fill, ...]
    penalty: float
    penalty_asset: str


class FlowBooked(Message, frozen=True, kw_only=True):
    """Investor capital entered (deposit) or left (withdrawal) the fund through ``instrument``."""

    kind: Literal["deposit", "withdrawal"]
    amount: float
    asset: str
    instrument: str
    request_id: str = ""


Outcome = (
    InstructionAccepted
    | InstructionFilled
    | InstructionRejected
    | InstructionCancelled
    | InstructionExpired
    | TransactionSubmitted
    | TransactionMined
    | TransactionReverted
    | TransactionReplaced
    | FlowBooked
)
"""What a venue publishes in answer to an instruction (a payout to investors books a ``FlowBooked``)."""


class InstructionStatus(Message, frozen=True, kw_only=True):
    """What a venue knows of an instruction: its answer to a ``QueryStatus``, and to an instruction
    delivered again. ``outcomes`` are the messages it published for the instruction, unchanged and in
    order (the balance events among them were booked when first published: a consumer that books
    balances does not book them again from here)."""

    instruction_id: str
    venue: str
    state: InstructionState
    outcomes: tuple[Outcome, ...] = ()


class RunStarted(Message, frozen=True, kw_only=True):
    """The first event of a run: what it runs and how it values balances, so the log alone rebuilds it.

    ``price_references`` maps an asset to its reference series ``[venue, symbol, market]``;
    ``perp_marks`` maps a perp key to the series it is marked to; ``config`` is the run's configuration
    with secrets masked.
    """

    run_id: str
    mode: str
    share_class: str
    environment: str
    start: int
    end: int
    price_references: dict[str, tuple[str, ...]]
    perp_marks: dict[str, tuple[str, ...]]
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class PositionSnapshot(Message, frozen=True, kw_only=True):
    """Every open position by canonical instrument key (``venue:position_type:symbol``), after booking the
    balance event ``through`` (the position monitor publishes one snapshot per balance event)."""

    positions: dict[str, float]
    through: str = ""


class Exposure(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    quantity: float
    asset: str
    value_usd: float
    value_share: float
    delta: float


class ExposureSnapshot(Message, frozen=True, kw_only=True):
    """Value of each position in USD and in the share class; net delta per underlying asset."""

    share_class: str
    exposures: dict[str, Exposure]
    net_delta: dict[str, float]
    total_usd: float
    total_share: float
    through: str = ""
    """The balance event of the positions valued (a ``PositionSnapshot``'s ``through``); empty for a
    revaluation of unchanged positions at new prices."""


class RiskAssessment(Message, frozen=True, kw_only=True):
    level: RiskLevel
    margin_ratios: dict[str, float]
    health_factor: float | None
    ltv: float | None
    delta_drift: float
    breaches: tuple[str, ...] = ()
    through: str = ""
    """The ``through`` of the exposure assessed: the PnL monitor values the book through that event."""


class PnlSnapshot(Message, frozen=True, kw_only=True):
    """Equity in the share class and PnL by source since the start of the run."""

    share_class: str
    equity: float
    net_flows: float
    pnl: float
    attribution: dict[str, float]


LegState = Literal["filled", "partially_filled", "failed"]


class LegOutcome(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How one venue's share of a routed instruction ended: ``requested`` and ``filled`` are in the units
    of the action's size (None for an action without one, such as a bundle)."""

    venue: str
    state: LegState
    requested: float | None = None
    filled: float | None = None
    reason: str = ""


class RouteCompleted(Message, frozen=True, kw_only=True):
    """The execution router finished an instruction addressed to ``venue="router"``.

    ``filled`` is true when every child instruction it sent filled in full (and every transfer among them
    arrived); otherwise ``reason`` names each leg that did not (``<venue>: <venue reason>``). ``legs``
    says how each venue's share ended; ``children`` are the ids of the child instructions that filled (in
    full or in part); ``attempts`` counts every child sent, retries included.
    """

    instruction_id: str
    filled: bool
    reason: str = ""
    children: tuple[str, ...] = ()
    attempts: int = 0
    legs: tuple[LegOutcome, ...] = ()


class StrategyDecided(Message, frozen=True, kw_only=True):
    """A decision of the strategy: what it does (``action``), why (``reason``: the triggers with their
    numbers), where it aims (``target``), the instructions it sends, and the book it decided on:
    ``equity`` (share class), ``withdrawing`` (owed to investors) and ``risk_level`` (None, "": decided
    without a valued book, e.g. when outcomes never came)."""

    action: WrapperAction
    reason: str
    target: dict[str, float]
    instruction_ids: tuple[str, ...] = ()
    equity: float | None = None
    withdrawing: float = 0.0
    risk_level: str = ""


EmergencyProtocol = Literal["cex_margin", "aave_ltv", "imbalance"]
"""The emergency protocols, in priority order: a CEX short of margin, the lending account's LTV too high,
collateral spread unevenly across the hedge venues."""
RebalanceAnswer = Literal["EXECUTE", "NEUTRAL", "DEFER"]


class EmergencySource(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One source an emergency protocol considered, in its order: what it holds that could cover the
    shortfall (USD), what the protocol takes from it, and why (or why not)."""

    name: str
    available_usd: float
    used_usd: float = 0.0
    note: str = ""


class EmergencyAction(Message, frozen=True, kw_only=True):
    """The strategy declared an emergency and acted on it: ``protocol`` (priority order:
    :data:`EmergencyProtocol`), ``trigger`` (the reading and the level it crossed), the ``venue`` in
    danger, its ``shortfall_usd`` (what it lacks to be back at its target), every source considered in
    the protocol's order with what it could give and what was taken, and ``action``: what the strategy
    does. The decision that sends the instructions follows it (caused by the last emergency of its
    instant)."""

    protocol: EmergencyProtocol
    trigger: str
    venue: str
    shortfall_usd: float
    sources: tuple[EmergencySource, ...]
    action: str


class RebalanceAssessed(Message, frozen=True, kw_only=True):
    """The rebalancing optimizer's verdict on a proposed move: ``answer`` and why (``reasons``, with their
    numbers), from the book's yield per year before and after (USD), the move's one-off cost (USD), the
    horizon and margin it was judged over, the gain over the horizon and the days to break even (None:
    never); ``required_by`` names a risk that required it whatever its cost. ``proposal`` says what was
    proposed."""

    proposal: str
    answer: RebalanceAnswer
    reasons: tuple[str, ...]
    yield_before_usd: float
    yield_after_usd: float
    cost_usd: float
    horizon_days: float
    margin: float
    gain_usd: float
    break_even_days: float | None = None
    required_by: str = ""


Event = (
    InstructionAccepted
    | InstructionRejected
    | InstructionFilled
    | InstructionCancelled
    | InstructionExpired
    | InstructionStatus
    | TransactionSubmitted
    | TransactionMined
    | TransactionReverted
    | TransactionReplaced
    | Settled
    | TransferCompleted
    | Liquidated
    | FlowBooked
    | RunStarted
    | PositionSnapshot
    | ExposureSnapshot
    | RiskAssessment
    | PnlSnapshot
    | RouteCompleted
    | StrategyDecided
    | EmergencyAction
    | RebalanceAssessed
)
