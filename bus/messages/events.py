"""Events: what happened, published on ``evt.<source>.<kind>``."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .base import Message

SettlementKind = Literal["funding", "lending_interest", "borrow_cost", "staking", "rewards"]
RiskLevel = Literal["ok", "warning", "critical"]
WrapperAction = Literal["entry_full", "entry_partial", "exit_full", "exit_partial", "sell_dust", "hold"]


class InstructionAccepted(Message, frozen=True, kw_only=True):
    instruction_id: str
    venue: str


class InstructionRejected(Message, frozen=True, kw_only=True):
    instruction_id: str
    venue: str
    reason: str
    transient: bool = False


class Fill(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One balance change caused by an instruction: ``instrument`` is a canonical key, ``delta`` signed."""

    instrument: str
    delta: float
    price: float = 0.0


class InstructionFilled(Message, frozen=True, kw_only=True):
    """An instruction completed. ``changes`` lists every balance it moved (canonical instrument keys);
    ``fee`` and ``gas`` are costs in ``fee_asset`` / ETH already included in ``changes``."""

    instruction_id: str
    venue: str
    changes: tuple[Fill, ...]
    fee: float = 0.0
    fee_asset: str = ""
    gas_eth: float = 0.0


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
    """Every open position by canonical instrument key (``venue:position_type:symbol``)."""

    positions: dict[str, float]


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


class RiskAssessment(Message, frozen=True, kw_only=True):
    level: RiskLevel
    margin_ratios: dict[str, float]
    health_factor: float | None
    ltv: float | None
    delta_drift: float
    breaches: tuple[str, ...] = ()


class PnlSnapshot(Message, frozen=True, kw_only=True):
    """Equity in the share class and PnL by source since the start of the run."""

    share_class: str
    equity: float
    net_flows: float
    pnl: float
    attribution: dict[str, float]


class RouteCompleted(Message, frozen=True, kw_only=True):
    """The execution router finished an instruction addressed to ``venue="router"``.

    ``filled`` is true when every child instruction it sent filled (and every transfer among them
    arrived); otherwise ``reason`` names each failed leg (``<venue>: <venue reason>``). ``children`` are
    the ids of the child instructions that filled; ``attempts`` counts every child sent, retries included.
    """

    instruction_id: str
    filled: bool
    reason: str = ""
    children: tuple[str, ...] = ()
    attempts: int = 0


class StrategyDecided(Message, frozen=True, kw_only=True):
    action: WrapperAction
    reason: str
    target: dict[str, float]
    instruction_ids: tuple[str, ...] = ()


Event = (
    InstructionAccepted
    | InstructionRejected
    | InstructionFilled
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
)
