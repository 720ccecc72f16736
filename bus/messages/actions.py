"""Actions: what an instruction asks a venue to do, as typed values with no envelope.

An action has no id, no time and no venue: strategies plan with actions, an :class:`Instruction`
(:mod:`.commands`) carries one to a venue, and an :class:`AtomicBundle` holds several as its steps, each
step identified by the bundle's id and its index. The ``kind`` tag names the action on the wire and in
the command subject (``cmd.<venue>.<kind>``).

Sizes are in the instrument's own units (coins for trades, tokens for lending and staking); prices in
the quote asset. A venue checks what only it can check (balances, margin, minimum sizes) and rejects
the instruction with a reason. What the values alone show to be wrong (a limit order without a price, a
take-profit below the stop-loss of a long) fails when the action is built or decoded.
"""

from __future__ import annotations

import functools
import math
from typing import Literal, get_args

import msgspec

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
TimeInForce = Literal["gtc", "ioc", "fok", "post_only"]
"""Good till cancelled, immediate or cancel, fill or kill, post only (a maker order or nothing)."""


class Action(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    omit_defaults=True,
    tag_field="kind",
):
    """Base of every action. Fields left at their defaults are not written (a market order carries no
    ``limit_price: null``), so the log stays small; decoding restores them."""

    @property
    def kind(self) -> str:
        """The action's tag: ``spot_trade``, ``supply``, ``bundle``, ..."""
        return str(type(self).__struct_config__.tag)

    def describe(self) -> str:
        """``kind(field=value, ...)`` over the fields that differ from their defaults, for logs and reports."""
        defaults = _defaults(type(self))
        body = ", ".join(
            f"{name}={value}"
            for name, value in msgspec.structs.asdict(self).items()
            if value != defaults.get(name, msgspec.NODEFAULT)
        )
        return f"{self.kind}({body})"


@functools.cache
def _defaults(cls: type[Action]) -> dict[str, object]:
    """The fields of ``cls`` that have a default, and the default (read once per class: msgspec works the
    fields out from the class's annotations on every call)."""
    return {f.name: f.default for f in msgspec.structs.fields(cls) if f.default is not msgspec.NODEFAULT}


def _check_price(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


class _Order(Action, frozen=True, kw_only=True):
    """What a spot and a perp order share: market or limit, and how long a limit order rests."""

    symbol: str
    side: Side
    quantity: float
    order_type: OrderType = "market"
    limit_price: float | None = None
    time_in_force: TimeInForce = "gtc"

    def __post_init__(self) -> None:
        _check_price("limit_price", self.limit_price)
        if (self.order_type == "limit") != (self.limit_price is not None):
            raise ValueError(
                "a limit order needs limit_price"
                if self.order_type == "limit"
                else "limit_price is only for limit orders"
            )


class SpotTrade(_Order, frozen=True, kw_only=True, tag="spot_trade"):
    """Buy or sell ``quantity`` of the base asset of ``symbol`` (``BTCUSDT``) on the spot market."""


class PerpTrade(_Order, frozen=True, kw_only=True, tag="perp_trade"):
    """Buy or sell ``quantity`` contracts (in the base asset) of the USDT-margined perpetual ``symbol``.

    ``reduce_only`` never opens or increases a position; ``take_profit`` and ``stop_loss`` are trigger
    prices of the orders that close the position this one opens (placed with it, cancelled with it).
    """

    reduce_only: bool = False
    take_profit: float | None = None
    stop_loss: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_price("take_profit", self.take_profit)
        _check_price("stop_loss", self.stop_loss)
        if self.take_profit is not None and self.stop_loss is not None:
            profit_above = self.side == "buy"
            if (self.take_profit > self.stop_loss) != profit_above:
                raise ValueError(
                    f"a {self.side} order's take_profit must be {'above' if profit_above else 'below'} "
                    f"its stop_loss, got take_profit={self.take_profit:g}, stop_loss={self.stop_loss:g}"
                )


class _Lending(Action, frozen=True, kw_only=True):
    """What the lending actions share: an ``amount`` of one reserve's ``asset``."""

    asset: str
    amount: float


class Supply(_Lending, frozen=True, kw_only=True, tag="supply"):
    """Supply to the pool (the aToken grows by ``amount``)."""


class Withdraw(_Lending, frozen=True, kw_only=True, tag="withdraw"):
    """Withdraw supplied funds (the aToken shrinks by ``amount``)."""


class Borrow(_Lending, frozen=True, kw_only=True, tag="borrow"):
    """Borrow against the collateral supplied (the debt token grows by ``amount``)."""


class Repay(_Lending, frozen=True, kw_only=True, tag="repay"):
    """Repay debt (at most what is owed)."""


class SetEMode(Action, frozen=True, kw_only=True, tag="set_emode"):
    """Enter the lending pool's efficiency-mode ``category`` (0 leaves eMode); the venue's configuration
    says which assets each category covers."""

    category: int

    def __post_init__(self) -> None:
        if not 0 <= self.category <= 255:
            raise ValueError(f"category must be in [0, 255], got {self.category}")


class _Staking(Action, frozen=True, kw_only=True):
    """What the staking actions share: an ``amount`` and the liquid staking ``token``."""

    token: str
    amount: float


class Stake(_Staking, frozen=True, kw_only=True, tag="stake"):
    """Stake ``amount`` ETH and receive the venue's liquid staking ``token``."""


class Unstake(_Staking, frozen=True, kw_only=True, tag="unstake"):
    """Redeem ``amount`` of a liquid staking ``token`` for ETH (through the protocol's queue)."""


class Swap(Action, frozen=True, kw_only=True, tag="swap"):
    sell_asset: str
    buy_asset: str
    amount: float
    """Of ``sell_asset``."""
    max_slippage_bps: float = 50.0


class Transfer(Action, frozen=True, kw_only=True, tag="transfer"):
    """Move ``amount`` of ``asset`` from account ``source`` to ``destination`` (wallet ↔ CEX, to investors)."""

    source: str
    destination: str
    asset: str
    amount: float


StepAction = Supply | Withdraw | Borrow | Repay | SetEMode | Stake | Unstake | Swap
"""What a bundle step may do: the on-chain actions one transaction can chain."""


class Step(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One step of a bundle: an on-chain ``action`` on ``venue``. It has no id of its own: the bundle's
    id and the step's index (``<bundle id>#<index>``) name it in outcomes."""

    venue: str
    action: StepAction


class FlashLoan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Borrow ``amount`` of ``asset`` from ``venue`` before the first step, repaid after the last."""

    venue: str
    asset: str
    amount: float

    def __post_init__(self) -> None:
        _check_price("amount", self.amount)


class AtomicBundle(Action, frozen=True, kw_only=True, tag="bundle"):
    """Steps executed in one transaction, all or nothing, optionally inside a flash loan."""

    steps: tuple[Step, ...]
    flash_loan: FlashLoan | None = None

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a bundle needs at least one step")


AnyAction = (
    SpotTrade
    | PerpTrade
    | Supply
    | Withdraw
    | Borrow
    | Repay
    | SetEMode
    | Stake
    | Unstake
    | Swap
    | Transfer
    | AtomicBundle
)
"""Every action an instruction may carry."""
ACTION_TYPES: tuple[type[Action], ...] = get_args(AnyAction)
KINDS: dict[type[Action], str] = {t: str(t.__struct_config__.tag) for t in ACTION_TYPES}
"""The tag of every action type (the last token of its command subject)."""
