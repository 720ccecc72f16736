"""The whole backtest loop on one in-process bus: simulated venues, the four monitors, the router and a
strategy. The test plays the feed (bars, gas, funding, reserves, the clock) and the investors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strategyutil import HOUR, T0, VENUES, Clocked, Tape

from basis.bus.bus import Bus
from basis.bus.component import Component
from basis.bus.ids import SequentialIds
from basis.bus.messages import (
    FundingRate,
    GasPrice,
    InvestorDeposit,
    InvestorWithdrawal,
    Message,
    ReserveState,
)
from basis.bus.transport.inprocess import InProcessTransport
from basis.components.exposure_monitor import ExposureMonitor
from basis.components.pnl_monitor import PnlMonitor
from basis.components.position_monitor import PositionMonitor
from basis.components.pricing import PriceBook
from basis.components.risk_monitor import RiskLimits, RiskMonitor
from basis.components.router import ActionMap, ExecutionRouter, RouterParams
from basis.components.strategy import Strategy, StrategyParams, create_strategy
from basis.venues.simulated import SimulatedAave, SimulatedCex, SimulatedWallet

RUN = "run"


class Stack:
    """Venues, monitors, router and strategy of one mode, started in the composition root's order."""

    def __init__(
        self,
        mode: str,
        params: StrategyParams,
        *,
        hedged_asset: str | None = None,
        limits: RiskLimits | None = None,
        deposit_delay_s: float = 600.0,
        withdrawal_delay_s: float = 1_800.0,
        slippage_bps: float = 4.0,
        allocation: Mapping[str, float] | None = None,
        spot_venue: str | None = "binance",
    ) -> None:
        self.transport = InProcessTransport()
        self.feed = Clocked(self.transport, T0)
        self.clock = self.feed.clock
        self.tape = Tape()
        self.components: list[Component] = []
        share = params.share_class
        self.position: PositionMonitor = self.add(PositionMonitor, "position-monitor")
        self.exposure = self.add(ExposureMonitor, "exposure-monitor", share_class=share, prices=PriceBook())
        self.risk = self.add(
            RiskMonitor, "risk-monitor", hedged_asset=hedged_asset, limits=limits, prices=PriceBook()
        )
        self.pnl: PnlMonitor = self.add(PnlMonitor, "pnl-monitor", share_class=share, prices=PriceBook())
        self.wallet = self.add(
            SimulatedWallet, "sim-wallet", deposit_delays_s={v: deposit_delay_s for v in VENUES}
        )
        self.cex: dict[str, SimulatedCex] = {}
        for venue in VENUES:
            spot = ("BTCUSDT", "ETHUSDT") if venue == "binance" else ()
            self.cex[venue] = self.add(
                SimulatedCex,
                f"sim-{venue}",
                venue=venue,
                instruments=(*spot, "BTCUSDT-PERP", "ETHUSDT-PERP"),
                slippage_bps=slippage_bps,
                withdrawal_delay_s=withdrawal_delay_s,
            )
        self.aave = self.add(SimulatedAave, "sim-aave")
        actions = ActionMap.build(
            hedge_allocation=allocation or {"binance": 0.4, "bybit": 0.3, "okx": 0.3},
            spot=spot_venue,
            lending="aave_v3",
        )
        self.router = self.add(ExecutionRouter, "router", params=RouterParams(actions=actions))
        bus, clock, ids = self.wiring("strategy")
        self.strategy: Strategy = create_strategy(mode, bus, clock, ids, params, prices=PriceBook())
        self.components.append(self.strategy)

    def wiring(self, name: str) -> tuple[Bus, Any, SequentialIds]:
        return Bus(self.transport, component=name, run_id=RUN), self.clock, SequentialIds(RUN, name)

    def add(self, cls: type[Any], name: str, **kwargs: Any) -> Any:
        component = cls(*self.wiring(name), **kwargs)
        self.components.append(component)
        return component

    async def start(self) -> Stack:
        await self.tape.attach(self.transport)
        for component in self.components:
            await component.start()
        await self.feed.send(
            self.feed.make(
                GasPrice, chain="ethereum", base_fee_gwei=10.0, priority_fee_gwei=0.0, price_gwei=10.0
            ),
            self.reserve(1.0),
        )
        return self

    def reserve(self, index: float) -> ReserveState:
        return self.feed.make(
            ReserveState,
            venue="aave_v3",
            asset="USDT",
            liquidity_index=index,
            variable_borrow_index=1.0,
            liquidity_rate=0.05,
            variable_borrow_rate=0.06,
            price_usd=1.0,
        )

    # --- the feed and the investors ---------------------------------------------------------------

    async def hour(self, **closes: float) -> None:
        """One hour passes: the hour's bars, then the clock."""
        await self.feed.tick(HOUR, **closes)

    async def minutes(self, n: int, **closes: float) -> None:
        await self.feed.tick(n * 60 * 1_000_000_000, **closes)

    async def funding(self, rate: float, symbol: str = "BTCUSDT") -> None:
        for venue in VENUES:
            await self.feed.send(self.feed.make(FundingRate, venue=venue, symbol=symbol, rate=rate))

    async def deposit(self, amount: float, asset: str = "USDT") -> InvestorDeposit:
        message = self.feed.make(InvestorDeposit, amount=amount, asset=asset)
        await self.feed.send(message)
        return message

    async def withdraw(self, amount: float, asset: str = "USDT") -> InvestorWithdrawal:
        message = self.feed.make(InvestorWithdrawal, amount=amount, asset=asset)
        await self.feed.send(message)
        return message

    async def send(self, *messages: Message) -> None:
        await self.feed.send(*messages)

    # --- readings ---------------------------------------------------------------------------------

    def book(self) -> dict[str, float]:
        return self.position.book.snapshot()

    def qty(self, key: str) -> float:
        return self.book().get(key, 0.0)

    def dead_letters(self) -> int:
        return sum(c.bus.dead_lettered for c in self.components) + self.transport.handler_errors
