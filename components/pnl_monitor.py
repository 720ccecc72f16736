"""PnL monitor: equity in the share class and PnL attributed by source (docs/accounting.md, Attribution).

:class:`PnlLedger` is pure state (no I/O; the projections reuse it). It records every balance-moving
event (the ones the position monitor books) and, at each valuation, with every unit value taken at the
current prices ("now") in the share class:

- ``price`` += Σ over the keys held since the last valuation of quantity × (unit now − unit then),
  but for a key valued through a liquid staking token's exchange rate (the token itself, its aToken or
  debt): its unit is rate × ETH, and the part of its move that the rate makes, quantity × unit now ×
  (1 − rate then / rate now), goes to ``staking``, the rest (the ETH price) to ``price``;
- each recorded event, change by change in event order: delta × unit now, credited to its source:
  ``Settled.kind`` (funding, lending_interest, borrow_cost, staking, rewards); a fill's gas
  (−``gas_eth`` on ``wallet:BaseToken:ETH``, the change that carries it) to ``gas`` and the rest of
  the fill (fee and execution against the mark) to ``trading_fees``;
  a transfer's arrival to ``trading_fees`` (with its departure fill, only the transfer fee remains);
  a liquidation to ``liquidation``; investor flows to ``net_flows`` (not PnL).

Equity is Σ quantity × unit now over the book (keys sorted), so equity − initial equity − net flows −
Σ attribution is float rounding only. The ledger checks that remainder after every valuation against
``tolerance`` × (|equity| or, when larger, the gross investor flows, so a fully withdrawn fund still has
a meaningful scale) + ``tolerance`` and raises :class:`AttributionError` beyond it. A balance that the
book drops as dust (``|q| <= 1e-12``) is written off to the source of the change that left it.

:class:`PnlMonitor` values when a :class:`RiskAssessment` arrives (the end of the tight loop
position → exposure → risk), crediting the events up to the one the causing ExposureSnapshot reflects,
and publishes a :class:`PnlSnapshot` for the strategy. It keeps its own book and prices, fed the same
events and market data as the other monitors, so its equity equals the snapshot's ``total_share``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from mypy_extensions import mypyc_attr

from basis.bus import subjects
from basis.bus.balances import BALANCE_EVENTS, PositionBook
from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.component import Component
from basis.bus.ids import IdFactory
from basis.bus.messages import (
    ClockTicked,
    ExposureSnapshot,
    Fill,
    FlowBooked,
    InstructionFilled,
    Liquidated,
    Message,
    PnlSnapshot,
    RiskAssessment,
    Settled,
    TransactionReverted,
    TransferCompleted,
)

from .pricing import PriceBook, book_value, follow_prices, ordered_sum, share_units

log = logging.getLogger("basis.components.pnl_monitor")

ATTRIBUTION_KEYS: tuple[str, ...] = (
    "funding",
    "lending_interest",
    "borrow_cost",
    "staking",
    "price",
    "trading_fees",
    "gas",
    "rewards",
    "liquidation",
)
NET_FLOWS = "net_flows"
GAS_INSTRUMENT = "wallet:BaseToken:ETH"
_MEMORY = 4096  # snapshots remembered while waiting for the rest of their loop
V = TypeVar("V")

Parts = tuple[tuple[str, float], ...]
"""How one change splits between sources: ``((source, quantity), ...)``, quantities summing to the delta."""


@mypyc_attr(native_class=False)  # mypyc compiles subclasses of few builtin exceptions
class AttributionError(ArithmeticError):
    """Equity − initial equity − net flows − Σ attribution is more than float rounding."""


@dataclass(frozen=True, slots=True)
class Change:
    """One balance change of an event: ``delta`` on ``instrument``, credited as ``parts``."""

    instrument: str
    delta: float
    parts: Parts


def _gas_change(fills: tuple[Fill, ...], gas_eth: float, gas_instrument: str) -> int:
    """Index of the change that carries a fill's gas: the last ``−gas_eth`` change on the gas
    instrument (venues book gas as the last change of a fill), else the last change on it; -1 if none."""
    if gas_eth <= 0.0:
        return -1
    candidates = [i for i, f in enumerate(fills) if f.instrument == gas_instrument]
    exact = [i for i in candidates if fills[i].delta == -gas_eth]
    return (exact or candidates or [-1])[-1]


def changes_of(message: Message, gas_instrument: str = GAS_INSTRUMENT) -> tuple[Change, ...]:
    """The balance changes of a balance-moving event, in the order the position monitor books them."""
    match message:
        case InstructionFilled(changes=fills, gas_eth=gas_eth):
            gas_at = _gas_change(fills, gas_eth, gas_instrument)
            out: list[Change] = []
            for i, fill in enumerate(fills):
                parts: Parts
                if i == gas_at:
                    parts = (("gas", -gas_eth), ("trading_fees", fill.delta + gas_eth))
                else:
                    parts = (("trading_fees", fill.delta),)
                out.append(Change(fill.instrument, fill.delta, parts))
            return tuple(out)
        case TransactionReverted(changes=fills):
            return tuple(Change(f.instrument, f.delta, (("gas", f.delta),)) for f in fills)
        case Liquidated(changes=fills):
            return tuple(Change(f.instrument, f.delta, (("liquidation", f.delta),)) for f in fills)
        case TransferCompleted(changes=fills):
            return tuple(Change(f.instrument, f.delta, (("trading_fees", f.delta),)) for f in fills)
        case FlowBooked(kind=kind, instrument=instrument, amount=amount):
            delta = amount if kind == "deposit" else -amount
            return (Change(instrument, delta, ((NET_FLOWS, delta),)),)
        case Settled(instrument=instrument, amount=amount, kind=kind):
            return (Change(instrument, amount, ((kind, amount),)),)
    return ()


@dataclass(frozen=True, slots=True)
class Pending:
    event_id: str
    changes: tuple[Change, ...]


class PnlLedger:
    """Equity and its attribution, valued step by step; pure state."""

    __slots__ = (
        "attribution",
        "book",
        "equity",
        "gas_instrument",
        "gross_flows",
        "initial_equity",
        "net_flows",
        "pending",
        "rates",
        "remainder",
        "share_class",
        "staked",
        "tolerance",
        "units",
        "valuations",
    )

    def __init__(
        self, share_class: str = "USDT", *, gas_instrument: str = GAS_INSTRUMENT, tolerance: float = 1e-9
    ) -> None:
        self.share_class = share_class
        self.gas_instrument = gas_instrument
        self.tolerance = tolerance
        self.book = PositionBook()
        self.units: dict[str, float] = {}
        """Unit value in the share class of each key of the book at the last valuation."""
        self.attribution: dict[str, float] = dict.fromkeys(ATTRIBUTION_KEYS, 0.0)
        self.net_flows = 0.0
        self.gross_flows = 0.0
        self.initial_equity = 0.0
        self.equity = 0.0
        self.remainder = 0.0
        self.pending: list[Pending] = []
        self.valuations = 0
        self.staked: dict[str, str | None] = {}
        """Each key seen: the liquid staking token it is valued through, or None."""
        self.rates: dict[str, float] = {}
        """Exchange rate (ETH per token) at the last valuation of each key of the book valued through one."""

    @property
    def pnl(self) -> float:
        return self.equity - self.initial_equity - self.net_flows

    def record(self, message: Message) -> bool:
        """Queue a balance-moving event until the next valuation; False for any other message."""
        changes = changes_of(message, self.gas_instrument)
        if not changes:
            return False
        self.pending.append(Pending(message.id, changes))
        return True

    def _due(self, through: str | None) -> int:
        if through is None:
            return len(self.pending)
        for i, pending in enumerate(self.pending):
            if pending.event_id == through:
                return i + 1
        return 0

    def value(self, prices: PriceBook, *, through: str | None = None) -> None:
        """Value the book at ``prices`` after crediting the pending events up to and including the one
        with id ``through`` (all of them when None). Raises a PriceError, leaving the ledger untouched,
        when a unit value is unusable; raises :class:`AttributionError` when the remainder is too big."""
        book = self.book.positions
        n_due = self._due(through) if self.pending else 0
        if not n_due:
            self._value_prices(prices)
            return
        due = self.pending[:n_due]
        keys = set(book)
        for pending in due:
            keys.update(c.instrument for c in pending.changes)
        units = share_units(prices, keys, self.share_class)

        held = sorted(book)
        self.attribution["price"] += ordered_sum(book[k] * (units[k] - self.units[k]) for k in held)
        if self.rates:
            self._staking(prices, units)
        for pending in due:
            for change in pending.changes:
                unit = units[change.instrument]
                for source, quantity in change.parts:
                    self._credit(source, quantity * unit)
                before = book.get(change.instrument, 0.0)
                self.book.apply(change.instrument, change.delta)
                if change.instrument not in book:
                    dust = before + change.delta
                    if dust != 0.0:
                        self._credit(change.parts[-1][0], -dust * unit)
        del self.pending[: len(due)]

        self.units = {k: units[k] for k in sorted(book)}
        self._note_rates(prices)
        self.equity = book_value(book, units)
        self.valuations += 1
        self.remainder = self.equity - self.initial_equity - self.net_flows - self.attributed()
        self.check()

    def _value_prices(self, prices: PriceBook) -> None:
        """:meth:`value` when no event is due: the same sums (keys sorted, left to right from 0.0),
        the price attribution and the equity taken in one pass over the book. The book has not moved
        since the last valuation, so its keys are those of ``units``."""
        book = self.book.positions
        before = self.units
        units = share_units(prices, before, self.share_class)
        price = 0.0
        equity = 0.0
        for k, unit in units.items():
            quantity = book[k]
            price += quantity * (unit - before[k])
            equity += quantity * unit
        self.attribution["price"] += price
        if self.rates:
            self._staking(prices, units)
            self._note_rates(prices)
        self.units = units
        self.equity = equity
        self.valuations += 1
        self.remainder = self.equity - self.initial_equity - self.net_flows - self.attributed()
        self.check()

    def _staking(self, prices: PriceBook, units: Mapping[str, float]) -> None:
        """Move the part of the price move of the keys valued through an exchange rate that the rate
        made from ``price`` to ``staking`` (before the book moves: the keys held since the last valuation)."""
        book = self.book.positions
        staking = 0.0
        for key, before in self.rates.items():
            token = self.staked[key]
            assert token is not None
            staking += book[key] * units[key] * (1.0 - before / prices.lst_rate(token, key))
        self.attribution["price"] -= staking
        self.attribution["staking"] += staking

    def _note_rates(self, prices: PriceBook) -> None:
        """Remember the exchange rate of every key of the book valued through one."""
        staked = self.staked
        rates: dict[str, float] = {}
        for key in self.book.positions:
            token = staked.get(key, "")
            if token == "":
                token = staked[key] = prices.staked_token(key)
            if token is not None:
                rates[key] = prices.lst_rate(token, key)
        self.rates = rates

    def _credit(self, source: str, value: float) -> None:
        if source == NET_FLOWS:
            self.net_flows += value
            self.gross_flows += abs(value)
        else:
            self.attribution[source] += value

    def attributed(self) -> float:
        """Σ attribution, in the fixed order of :data:`ATTRIBUTION_KEYS` (left to right from 0.0)."""
        attribution = self.attribution
        total = 0.0
        for k in ATTRIBUTION_KEYS:
            total += attribution[k]
        return total

    def limit(self) -> float:
        return self.tolerance * max(abs(self.equity), self.gross_flows) + self.tolerance

    def check(self) -> None:
        if not abs(self.remainder) <= self.limit():
            raise AttributionError(
                f"equity {self.equity!r} - initial {self.initial_equity!r} - net flows {self.net_flows!r} "
                f"- attribution {self.attributed()!r} = {self.remainder!r} (limit {self.limit()!r})"
            )

    def snapshot_fields(self) -> dict[str, object]:
        return {
            "share_class": self.share_class,
            "equity": self.equity,
            "net_flows": self.net_flows,
            "pnl": self.pnl,
            "attribution": dict(self.attribution),
        }


def _remember(memory: dict[str, V], key: str, value: V) -> None:
    memory[key] = value
    if len(memory) > _MEMORY:
        del memory[next(iter(memory))]


class PnlMonitor(Component):
    """Publishes a PnlSnapshot for every RiskAssessment: the last step of the tight loop."""

    name = "pnl-monitor"

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        share_class: str = "USDT",
        prices: PriceBook | None = None,
        tolerance: float = 1e-9,
    ) -> None:
        super().__init__(bus, clock, ids)
        self.prices = prices if prices is not None else PriceBook()
        self.ledger = PnlLedger(share_class, tolerance=tolerance)
        self._exposures: dict[str, ExposureSnapshot] = {}

    async def on_start(self) -> None:
        await follow_prices(self.bus, self.prices)
        await self.bus.subscribe(subjects.clock(), self.on_clock, types=(ClockTicked,))
        await self.bus.subscribe("evt.*.*", self.on_balance_event, types=BALANCE_EVENTS)
        await self.bus.subscribe(
            subjects.evt("exposure", "snapshot"), self.on_exposure, types=(ExposureSnapshot,)
        )
        await self.bus.subscribe(subjects.evt("risk", "assessment"), self.on_risk, types=(RiskAssessment,))

    def history(self) -> tuple[str, ...]:
        """The market data, every balance event, exposure snapshot and risk assessment, and its own PnL
        snapshots: the ledger is valued again at every assessment, with the prices of its time."""
        return (subjects.pattern(subjects.MD, ">"), subjects.pattern(subjects.EVT, "*", "*"))

    def on_clock(self, message: ClockTicked) -> None:
        self.prices.advance(message.ts)

    def on_balance_event(self, message: Message) -> None:
        self.ledger.record(message)

    def on_exposure(self, message: ExposureSnapshot) -> None:
        _remember(self._exposures, message.id, message)

    async def on_risk(self, message: RiskAssessment) -> None:
        exposure = self._exposures.pop(message.causation_id, None)
        self.ledger.value(self.prices, through=message.through or None)
        if exposure is not None:
            self._compare(exposure)
        ledger = self.ledger
        # = self.make(PnlSnapshot, cause=message, **ledger.snapshot_fields()), built directly
        await self.emit(
            PnlSnapshot(
                id=self.ids.next_id(),
                ts=self.clock.now_ns(),
                causation_id=message.id,
                correlation_id=message.correlation_id or message.id,
                share_class=ledger.share_class,
                equity=ledger.equity,
                net_flows=ledger.net_flows,
                pnl=ledger.pnl,
                attribution=dict(ledger.attribution),
            )
        )

    def _compare(self, exposure: ExposureSnapshot) -> None:
        if exposure.total_share == self.ledger.equity:
            return
        quantities: Mapping[str, float] = {k: e.quantity for k, e in exposure.exposures.items()}
        if quantities == self.ledger.book.positions:
            log.warning(
                "%s: equity %r differs from exposure total %r with the same positions",
                self.name,
                self.ledger.equity,
                exposure.total_share,
            )
