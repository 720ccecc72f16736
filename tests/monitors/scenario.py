"""Hand-built market data and venue events, and the four monitors wired over a real in-process bus."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from basis.bus.bus import Bus
from basis.bus.clock import SimClock
from basis.bus.codec import decode
from basis.bus.ids import SequentialIds
from basis.bus.messages import (
    Bar,
    ClockTicked,
    Fill,
    FlowBooked,
    InstructionFilled,
    LstRate,
    Message,
    Settled,
    SettlementKind,
    TransferCompleted,
)
from basis.bus.transport.base import Envelope
from basis.bus.transport.inprocess import InProcessTransport
from basis.components.exposure_monitor import ExposureMonitor
from basis.components.pnl_monitor import PnlMonitor
from basis.components.position_monitor import PositionMonitor
from basis.components.pricing import PRICE_MESSAGES, PriceBook
from basis.components.risk_monitor import RiskLimits, RiskMonitor

H = 3600 * 1_000_000_000
RUN = "run-1"
_ids = itertools.count(1)


def next_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def bar(ts: int, venue: str, symbol: str, market: str, close: float, interval_s: int = 3600) -> Bar:
    return Bar(
        id=next_id("bar"),
        ts=ts,
        venue=venue,
        symbol=symbol,
        market=market,  # type: ignore[arg-type]
        open_ts=ts - interval_s * 1_000_000_000,
        interval_s=interval_s,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1.0,
    )


def lst(ts: int, token: str, rate: float, venue: str = "etherfi") -> LstRate:
    return LstRate(id=next_id("lst"), ts=ts, venue=venue, token=token, rate=rate)


def tick(ts: int) -> ClockTicked:
    return ClockTicked(id=next_id("tick"), ts=ts)


def fill(
    ts: int, venue: str, *changes: tuple[str, float], fee: float = 0.0, gas_eth: float = 0.0
) -> InstructionFilled:
    return InstructionFilled(
        id=next_id("fill"),
        ts=ts,
        instruction_id=next_id("instr"),
        venue=venue,
        changes=tuple(Fill(instrument=k, delta=d) for k, d in changes),
        fee=fee,
        fee_asset="USDT" if fee else "",
        gas_eth=gas_eth,
    )


def settled(ts: int, instrument: str, kind: SettlementKind, amount: float, asset: str = "USDT") -> Settled:
    return Settled(
        id=next_id("settle"),
        ts=ts,
        venue=instrument.split(":")[0],
        instrument=instrument,
        kind=kind,
        amount=amount,
        asset=asset,
    )


def arrived(ts: int, destination: str, asset: str, amount: float, fee: float = 0.0) -> TransferCompleted:
    return TransferCompleted(
        id=next_id("arrive"),
        ts=ts,
        instruction_id=next_id("instr"),
        source="binance",
        destination=destination.split(":")[0],
        asset=asset,
        amount=amount,
        fee=fee,
        changes=(Fill(instrument=destination, delta=amount - fee),),
    )


def flow(ts: int, kind: str, amount: float, instrument: str, asset: str = "USDT") -> FlowBooked:
    return FlowBooked(id=next_id("flow"), ts=ts, kind=kind, amount=amount, asset=asset, instrument=instrument)  # type: ignore[arg-type]


def market(ts: int, btc: float, perp: float, eth: float) -> list[Message]:
    """Binance BTC spot and perp bars and the Bybit ETH spot bar of one hour."""
    return [
        bar(ts, "binance", "BTCUSDT", "spot", btc),
        bar(ts, "binance", "BTCUSDT", "perp", perp),
        bar(ts, "bybit", "ETHUSDT", "spot", eth),
    ]


def basis_scenario() -> list[Message]:
    """Deposit, spot buy, perp short, a transfer and an AAVE supply paying gas, funding, interest, price
    moves and a withdrawal. Every number is a short binary fraction, so float arithmetic is exact."""
    t1, t2, t3 = 1 * H, 2 * H, 3 * H
    return [
        *market(t1, 64000.0, 64000.0, 2048.0),
        tick(t1),
        flow(t1, "deposit", 131072.0, "binance:BaseToken:USDT"),
        fill(t1, "binance", ("binance:BaseToken:BTC", 1.0), ("binance:BaseToken:USDT", -64064.0), fee=64.0),
        fill(
            t1,
            "binance",
            ("binance:Perp:BTCUSDT", -1.0),
            ("binance:PerpNotional:BTCUSDT", 64016.0),
            ("binance:BaseToken:USDT", -32.0),
            fee=32.0,
        ),
        fill(t1, "binance", ("binance:BaseToken:USDT", -2048.0)),
        arrived(t1, "wallet:BaseToken:USDT", "USDT", 2048.0, fee=1.0),
        fill(
            t1,
            "aave_v3",
            ("wallet:BaseToken:USDT", -1024.0),
            ("aave_v3:aToken:aUSDT", 1024.0),
            ("wallet:BaseToken:ETH", -0.0078125),
            gas_eth=0.0078125,
        ),
        *market(t2, 65536.0, 65600.0, 4096.0),
        tick(t2),
        settled(t2, "binance:BaseToken:USDT", "funding", 6.5),
        settled(t2, "aave_v3:aToken:aUSDT", "lending_interest", 0.25),
        *market(t3, 63488.0, 63520.0, 1024.0),
        tick(t3),
        flow(t3, "withdrawal", 4096.0, "binance:BaseToken:USDT"),
    ]


class Rig:
    """Position, exposure, risk and PnL monitors on one InProcessTransport, plus a recorder of every
    message in delivery order (what the store would hold)."""

    def __init__(
        self,
        *,
        share_class: str = "USDT",
        hedged_asset: str | None = None,
        limits: RiskLimits | None = None,
        pricing: Mapping[str, Any] | None = None,
        hosted: bool = False,
    ) -> None:
        """``hosted``: the monitors share one price book that the rig keeps current (as a backtest does)."""
        self.transport = InProcessTransport()
        self.clock = SimClock(0)
        self.pricing = dict(pricing or {})
        self.hosted = PriceBook(**self.pricing, hosted=True) if hosted else None
        self.log: list[Message] = []
        """Every message but dead letters, in delivery order, decoded from the bytes on the wire."""
        self.records: list[tuple[str, bytes, dict[str, str]]] = []
        self.position = PositionMonitor(*self._wiring("position-monitor"))
        self.exposure = ExposureMonitor(
            *self._wiring("exposure-monitor"), share_class=share_class, prices=self.prices()
        )
        self.risk = RiskMonitor(
            *self._wiring("risk-monitor"), hedged_asset=hedged_asset, limits=limits, prices=self.prices()
        )
        self.pnl = PnlMonitor(*self._wiring("pnl-monitor"), share_class=share_class, prices=self.prices())
        self.feed = Bus(self.transport, component="feed", run_id=RUN)

    def prices(self) -> PriceBook:
        return self.hosted if self.hosted is not None else PriceBook(**self.pricing)

    def _wiring(self, name: str) -> tuple[Bus, SimClock, SequentialIds]:
        return Bus(self.transport, component=name, run_id=RUN), self.clock, SequentialIds(RUN, name)

    async def start(self) -> Rig:
        async def record(envelope: Envelope) -> None:
            self.records.append((envelope.subject, envelope.data, dict(envelope.headers)))
            if not envelope.subject.startswith("dlq."):
                self.log.append(decode(envelope.data))

        await self.transport.subscribe(">", record)
        if self.hosted is not None:
            await Bus(self.transport, component="prices").subscribe(
                "md.>", self.hosted.take, types=PRICE_MESSAGES
            )
        for component in (self.position, self.exposure, self.risk, self.pnl):
            await component.start()
        return self

    async def send(self, *messages: Message) -> None:
        for message in messages:
            if message.ts > self.clock.now_ns():
                self.clock.advance_to(message.ts)
            await self.feed.publish(message)

    def of(self, cls: type[Message]) -> list[Any]:
        return [m for m in self.log if isinstance(m, cls)]
