"""Which strategy and router a run's mode gets (the strategy registry decides; nothing here branches on
the mode name)."""

from __future__ import annotations

import dataclasses
from typing import Any

from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.components.pricing import PriceBook
from basis.components.router import ExecutionRouter, RouterParams
from basis.components.strategy.base import Strategy
from basis.components.strategy.params import StrategyParams
from basis.components.strategy.registry import STRATEGIES, UnknownStrategy, create_strategy, strategy_class
from basis.components.strategy.venue_terms import venue_terms
from basis.configs import CexVenueConfig, DexVenueConfig, LendingVenueConfig, RunConfig

from .errors import BacktestError


def require_strategy(config: RunConfig) -> type[Strategy[Any]]:
    """The strategy class of the run's mode; a clear error for modes without one yet."""
    try:
        return strategy_class(config.mode.name)
    except UnknownStrategy:
        known = ", ".join(sorted(STRATEGIES))
        raise BacktestError(
            f"mode {config.mode.name} is configured but has no strategy yet; backtests run {known}"
        ) from None


def strategy_params(config: RunConfig) -> StrategyParams:
    """The parameters the run's strategy is built with; a clear error for a mode without a strategy or
    with keys its strategy cannot run with."""
    mode = config.mode
    try:
        cls = require_strategy(config)
        return cls.params_from_mode(mode, **venue_fields(config, cls.params_type))
    except ValueError as exc:
        raise BacktestError(f"mode {mode.name}: {exc}") from None


def venue_fields(config: RunConfig, params_type: type[StrategyParams]) -> dict[str, Any]:
    """The parameters a strategy takes from its venues' configuration, read here so that the strategy
    never reads a venue's own facts: the lending pool's eMode category, the depth of the token's DEX pool,
    what moving funds between the venues costs and the taker fees of a hedged purchase."""
    fields = {f.name for f in dataclasses.fields(params_type)}
    out: dict[str, Any] = {}
    name = config.mode.venues.lending
    lending = config.venues.get(name) if name is not None else None
    if "emode_category" in fields and lending is not None and isinstance(lending.config, LendingVenueConfig):
        out["emode_category"] = lending.config.risk_params.emode_category_id
    token = config.mode.lst_type
    dexes = [v.config for v in config.venues.values() if isinstance(v.config, DexVenueConfig)]
    if "pool_depth" in fields and dexes and token is not None:
        out["pool_depth"] = dexes[0].pool_depth.get(f"{token}WETH", 0.0)
    if "transfer_terms" in fields:
        out["transfer_terms"] = venue_terms(config.venues)
        out["trading_fee"] = taker_fees(config)
    return out


def taker_fees(config: RunConfig) -> float:
    """A spot purchase on the spot venue plus shorts split by the hedge allocation, at taker fees."""
    mode = config.mode
    fee = 0.0
    spot = config.venues.get(mode.venues.spot) if mode.venues.spot is not None else None
    if spot is not None and isinstance(spot.config, CexVenueConfig):
        fee += spot.config.fees.spot.taker
    for venue, share in mode.active_hedge_allocation.items():
        cex = config.venues.get(venue)
        if cex is not None and isinstance(cex.config, CexVenueConfig):
            fee += share * cex.config.fees.perp.taker
    return fee


def build_strategy(
    config: RunConfig, params: StrategyParams, bus: Bus, clock: Clock, ids: IdFactory, prices: PriceBook
) -> Strategy[Any]:
    """The run's strategy with ``params`` (from :func:`strategy_params`)."""
    return create_strategy(config.mode.name, bus, clock, ids, params, prices=prices)


def build_router(config: RunConfig, bus: Bus, clock: Clock, ids: IdFactory) -> ExecutionRouter:
    return ExecutionRouter(bus, clock, ids, RouterParams.from_mode(config.mode))
