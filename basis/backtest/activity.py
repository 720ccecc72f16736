"""What a run did, read back from its log: funding by venue, traded notional, time in market.

The log keeps every balance-moving event (fills, settlements, transfers, liquidations, flows), so these
figures are rebuilt from it after the run, as any projection would, with the position monitor's own
:class:`PositionBook`.

- ``funding_by_venue``: venue → {asset → Σ ``Settled.amount`` of kind funding}, in the asset the venue
  settles funding in (USDT for every perp today), over the window.
- ``traded_notional``: Σ over the traded legs of every fill (a change with an execution price) of
  |quantity| × price, converted to the share class: as is when the share class is USDT or USD, the
  quantity itself when the leg's base asset is the share class; None when a leg is neither.
- ``time_in_market``: the share of the window during which the book holds a market position: a perp,
  a lending supply or debt (aToken, debtToken), or a balance of an asset that is neither the share class
  nor USDT/USD, except the ETH the gas wallet holds to pay gas (``wallet:BaseToken:ETH``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from basis.bus.balances import BALANCE_EVENTS, PositionBook
from basis.bus.instruments import parse
from basis.bus.messages import InstructionFilled, Message, Settled
from basis.components.pricing import NUMERAIRES, perp_base

GAS_WALLET = "wallet:BaseToken:ETH"
MARKET_TYPES = frozenset({"Perp", "aToken", "debtToken"})


@dataclass(slots=True)
class Activity:
    """Feed it the run's messages in log order (:meth:`process_event`), then :meth:`finish`."""

    share_class: str
    start: int
    end: int
    funding_by_venue: dict[str, dict[str, float]] = field(default_factory=dict)
    traded_notional: float | None = 0.0
    in_market_ns: int = 0
    book: PositionBook = field(default_factory=PositionBook)
    _since: int | None = None
    """When the book last entered the market (None: out of it)."""

    def process_event(self, message: Message) -> None:
        if not isinstance(message, BALANCE_EVENTS):
            return
        ts = min(max(message.ts, self.start), self.end)
        if isinstance(message, Settled) and message.kind == "funding" and self.start <= message.ts < self.end:
            venue = self.funding_by_venue.setdefault(message.venue, {})
            venue[message.asset] = venue.get(message.asset, 0.0) + message.amount
        if isinstance(message, InstructionFilled):
            self._trade(message)
        self.book.apply_event(message)
        self._mark(ts)

    def finish(self) -> None:
        self._mark(self.end, closing=True)

    @property
    def time_in_market(self) -> float:
        span = self.end - self.start
        return self.in_market_ns / span if span > 0 else 0.0

    def _trade(self, message: InstructionFilled) -> None:
        for change in message.changes:
            if change.price <= 0 or self.traded_notional is None:
                continue
            _, position_type, symbol = parse(change.instrument)
            base = perp_base(symbol) if position_type == "Perp" else symbol
            if self.share_class in NUMERAIRES:
                self.traded_notional += abs(change.delta) * change.price
            elif base == self.share_class:
                self.traded_notional += abs(change.delta)
            else:
                self.traded_notional = None

    def _in_market(self) -> bool:
        for key in self.book.positions:
            _, position_type, symbol = parse(key)
            if position_type in MARKET_TYPES:
                return True
            if position_type == "BaseToken" and key != GAS_WALLET:
                if symbol != self.share_class and symbol not in NUMERAIRES:
                    return True
        return False

    def _mark(self, ts: int, *, closing: bool = False) -> None:
        inside = False if closing else self._in_market()
        if self._since is not None and not inside:
            self.in_market_ns += ts - self._since
            self._since = None
        elif self._since is None and inside:
            self._since = ts


def activity_of(messages: Iterable[Message], share_class: str, window: tuple[int, int]) -> Activity:
    activity = Activity(share_class, window[0], window[1])
    for message in messages:
        activity.process_event(message)
    activity.finish()
    return activity


def read_activity(store_url: str, run_id: str, share_class: str, window: tuple[int, int]) -> Activity:
    """:func:`activity_of` the events (``evt.>``) of run ``run_id`` in the store at ``store_url``."""
    from basis.bus.codec import decode
    from basis.bus.store import open_store

    with open_store(store_url) as store:
        records = store.read(run_id=run_id, subject="evt.>")
        return activity_of((decode(record.data) for record in records), share_class, window)
