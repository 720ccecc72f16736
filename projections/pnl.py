"""Equity and attribution rebuilt from a run's market data and events, with the PnL monitor's ledger.

The PnL monitor values at the end of each tight loop: after every balance-moving event, and after a
clock tick that moved a price it uses. The log holds market data (``md.*``) and events (``evt.*``) in
the order they were delivered; the clock (``sys.clock``) is not durable. The projection therefore
infers the ticks: the feed publishes all market data of a timestamp and then ticks, so a tick happened

- before the first message that is not market data after some market data (whatever reacted to it),
- before market data with a later timestamp than the market data still waiting,
- at a :class:`ClockTicked` when the log does hold one, and at :meth:`PnlProjection.finish`.

It values at each of these points and after every balance-moving event. A valuation at which no unit
value in use changed and no event is due adds exactly 0.0 to every figure, so valuing at a tick the
monitor skipped changes nothing: the figures are bit-identical to the monitor's. Staleness is judged
against the newest time seen (market data, and the clock time every other message is stamped with),
which is the monitor's clock time at each of its valuations; a valuation that fails on a price fails
in both, and the events it would have credited wait for the next one in both.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import singledispatchmethod
from typing import get_args

from basis.bus.balances import BALANCE_EVENTS
from basis.bus.messages import ClockTicked, MarketData, Message
from basis.components.pnl_monitor import PnlLedger
from basis.components.pricing import PriceBook, PriceError


class PnlProjection:
    """A :class:`PriceBook` and a :class:`PnlLedger` driven by the log."""

    def __init__(
        self, share_class: str = "USDT", *, prices: PriceBook | None = None, tolerance: float = 1e-9
    ) -> None:
        self.prices = prices if prices is not None else PriceBook()
        self.ledger = PnlLedger(share_class, tolerance=tolerance)
        self.price_errors: list[PriceError] = []
        """Valuations that could not be done (the monitor's loop stopped at the same point)."""
        self._waiting_md_ts: int | None = None
        self.now = 0
        """The newest time seen (the clock time of the last valuation)."""
        self.on_tick: Callable[[int], None] | None = None
        """Called at each tick inferred from market data, prices advanced, before the valuation."""
        self.on_valuation: Callable[[int], None] | None = None
        """Called after each valuation that succeeded, with its time."""

    @property
    def share_class(self) -> str:
        return self.ledger.share_class

    def snapshot_fields(self) -> dict[str, object]:
        """What the PnlSnapshot of the last valuation carries."""
        return self.ledger.snapshot_fields()

    def _value(self) -> None:
        try:
            self.ledger.value(self.prices)
        except PriceError as exc:
            self.price_errors.append(exc)
            return
        if self.on_valuation is not None:
            self.on_valuation(self.now)

    def _advance(self, ts: int) -> None:
        self.prices.advance(ts)
        if ts > self.now:
            self.now = ts

    def _tick(self) -> None:
        if self._waiting_md_ts is not None:
            self._advance(self._waiting_md_ts)
            self._waiting_md_ts = None
            if self.on_tick is not None:
                self.on_tick(self.now)
            self._value()

    def finish(self) -> None:
        """The log ended: the feed's last tick follows its last market data."""
        self._tick()

    def _after_tick(self, message: Message) -> None:
        """Anything that is not market data comes after the tick of the market data before it, and no
        earlier than the clock time it is stamped with."""
        self._tick()
        self._advance(message.ts)

    @singledispatchmethod
    def process_event(self, message: Message) -> None:
        self._after_tick(message)

    @process_event.register(ClockTicked)
    def _clock(self, message: ClockTicked) -> None:
        self._waiting_md_ts = None
        self._advance(message.ts)
        if self.on_tick is not None:
            self.on_tick(self.now)
        self._value()

    def _balance(self, message: Message) -> None:
        self._after_tick(message)
        self.ledger.record(message)
        self._value()

    for _type in BALANCE_EVENTS:
        process_event.register(_type, _balance)

    def _market_data(self, message: Message) -> None:
        if self._waiting_md_ts is not None and message.ts > self._waiting_md_ts:
            self._tick()
        self.prices.apply(message)
        if self._waiting_md_ts is None or message.ts > self._waiting_md_ts:
            self._waiting_md_ts = message.ts

    for _type in get_args(MarketData):
        process_event.register(_type, _market_data)
    del _type
