"""Which strategy and router a run's mode gets (the strategy registry decides; nothing here branches on
the mode name)."""

from __future__ import annotations

from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.components.pricing import PriceBook
from basis.components.router import ExecutionRouter, RouterParams
from basis.components.strategy.base import Strategy
from basis.components.strategy.registry import UnknownStrategy, create_strategy, strategy_class
from basis.configs import RunConfig

from .errors import BacktestError


def build_strategy(config: RunConfig, bus: Bus, clock: Clock, ids: IdFactory, prices: PriceBook) -> Strategy:
    mode = config.mode
    try:
        cls = strategy_class(mode.name)
    except UnknownStrategy as exc:
        raise BacktestError(f"mode {mode.name} cannot be backtested yet: {exc}") from None
    params = cls.params_from_mode(mode)
    return create_strategy(mode.name, bus, clock, ids, params, prices=prices)


def build_router(config: RunConfig, bus: Bus, clock: Clock, ids: IdFactory) -> ExecutionRouter:
    return ExecutionRouter(bus, clock, ids, RouterParams.from_mode(config.mode))
