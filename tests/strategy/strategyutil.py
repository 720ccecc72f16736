"""Helpers of the strategy tests: price books from bars, strategies on a bus, a recording stack."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, TypeVar

from basis.bus.bus import Bus
from basis.bus.clock import SimClock
from basis.bus.ids import SequentialIds
from basis.bus.messages import Action, Bar, ClockTicked, Instruction, Message, StrategyDecided
from basis.bus.transport.inprocess import InProcessTransport
from basis.components.pricing import PriceBook
from basis.components.strategy import BasisParams, LendingParams, Strategy, View

M = TypeVar("M", bound=Message)
S = TypeVar("S", bound=Strategy)

T0 = 1_719_792_000 * 1_000_000_000  # 2024-07-01T00:00:00Z
HOUR = 3_600 * 1_000_000_000
VENUES = ("binance", "bybit", "okx")
_n = itertools.count(1)


def bar(venue: str, symbol: str, market: str, close: float, ts: int = T0) -> Bar:
    return Bar(
        id=f"bar.{next(_n)}",
        ts=ts,
        venue=venue,
        symbol=symbol,
        market=market,  # type: ignore[arg-type]
        open_ts=ts - HOUR,
        interval_s=3600,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1.0,
    )


def market(ts: int, *, btc: float = 50_000.0, eth: float = 2_000.0, basis: float = 0.0) -> list[Bar]:
    """BTC spot (Binance) and ETH spot (Bybit) references, and BTC and ETH perps on every venue at
    ``spot × (1 + basis)``."""
    bars = [bar("binance", "BTCUSDT", "spot", btc, ts), bar("bybit", "ETHUSDT", "spot", eth, ts)]
    bars.append(bar("binance", "ETHUSDT", "spot", eth, ts))
    for venue in VENUES:
        bars.append(bar(venue, "BTCUSDT", "perp", btc * (1 + basis), ts))
        bars.append(bar(venue, "ETHUSDT", "perp", eth * (1 + basis), ts))
    return bars


def prices(ts: int = T0, **closes: float) -> PriceBook:
    book = PriceBook()
    for message in market(ts, **closes):
        book.apply(message)
    book.advance(ts)
    return book


def btc_params(**overrides: Any) -> BasisParams:
    fields: dict[str, Any] = {
        "share_class": "USDT",
        "asset": "BTC",
        "hedge_allocation": {"binance": 0.4, "bybit": 0.3, "okx": 0.3},
        "margin_buffer": 0.25,
        "margin_warning": 0.2,
    }
    return BasisParams(**{**fields, **overrides})


def eth_params(**overrides: Any) -> BasisParams:
    return btc_params(**{"share_class": "ETH", "asset": "ETH", **overrides})


def lending_params(**overrides: Any) -> LendingParams:
    return LendingParams(**{"share_class": "USDT", **overrides})


def detached(cls: type[S], params: Any, book: PriceBook | None = None) -> S:
    """A strategy on a bus of its own, never started: for calling its target and plan directly."""
    bus = Bus(InProcessTransport(), component="strategy")
    return cls(bus, SimClock(T0), SequentialIds("run", "strategy"), params, prices=book or prices())


def view(
    strategy: Strategy,
    positions: Mapping[str, float],
    *,
    withdrawing: float = 0.0,
    book: PriceBook | None = None,
) -> View:
    return View(
        positions=dict(positions),
        prices=book or strategy.prices,
        share_class=strategy.params.share_class,
        withdrawing=withdrawing,
    )


class Tape:
    """Every message on the bus, in delivery order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def attach(self, transport: InProcessTransport) -> None:
        bus = Bus(transport, component="tape")

        async def record(message: Message) -> None:
            self.messages.append(message)

        await bus.subscribe(">", record)

    def of(self, cls: type[M]) -> list[M]:
        return [m for m in self.messages if isinstance(m, cls)]

    def carrying(self, cls: type[Action]) -> list[Instruction]:
        """The instructions whose action is a ``cls``, in delivery order."""
        return [m for m in self.of(Instruction) if isinstance(m.action, cls)]

    def decisions(self) -> list[StrategyDecided]:
        return self.of(StrategyDecided)

    def actions(self) -> list[str]:
        return [d.action for d in self.decisions()]

    def sent_by(self, decision: StrategyDecided) -> list[Instruction]:
        ids = set(decision.instruction_ids)
        return [m for m in self.messages if isinstance(m, Instruction) and m.id in ids]


class Clocked:
    """A simulation clock and the test's own bus: the test plays the feed."""

    def __init__(self, transport: InProcessTransport, start_ns: int = T0) -> None:
        self.clock = SimClock(start_ns)
        self.bus = Bus(transport, component="feed")
        self._n = itertools.count(1)

    def make(self, cls: type[M], **fields: Any) -> M:
        fields.setdefault("ts", self.clock.now_ns())
        return cls(id=f"feed.{next(self._n)}", **fields)

    async def send(self, *messages: Message) -> None:
        for message in messages:
            await self.bus.publish(message)

    async def tick(self, ns: int = 0, **closes: float) -> None:
        """Advance the clock by ``ns``, publish the hour's bars (when prices are given) and the tick."""
        self.clock.advance_to(self.clock.now_ns() + ns)
        if closes:
            await self.send(*market(self.clock.now_ns(), **closes))
        await self.send(self.make(ClockTicked))
