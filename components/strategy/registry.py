"""Strategy modes by name: the only place that maps a mode name to its class."""

from __future__ import annotations

from typing import Any

from mypy_extensions import mypyc_attr

from basis.bus.bus import Bus
from basis.bus.clock import Clock
from basis.bus.ids import IdFactory
from basis.components.pricing import PriceBook

from .base import Strategy
from .basis import BtcBasisStrategy, EthBasisStrategy
from .hedged import HedgedStakingStrategy
from .hedged_leveraged import HedgedLeveragedStrategy
from .lending import PureLendingStrategy
from .leveraged import LeveragedStakingStrategy
from .params import StrategyParams
from .staking import StakingStrategy

STRATEGIES: dict[str, type[Strategy[Any]]] = {
    "pure_lending_usdt": PureLendingStrategy,
    "btc_basis": BtcBasisStrategy,
    "eth_basis": EthBasisStrategy,
    "eth_staking_only": StakingStrategy,
    "eth_leveraged": LeveragedStakingStrategy,
    "usdt_eth_staking_hedged_simple": HedgedStakingStrategy,
    "usdt_eth_staking_hedged_leveraged": HedgedLeveragedStrategy,
}


@mypyc_attr(native_class=False)  # mypyc compiles subclasses of few builtin exceptions
class UnknownStrategy(KeyError):
    """No strategy class is registered under a mode name."""

    def __str__(self) -> str:
        return str(self.args[0])


def strategy_class(mode: str) -> type[Strategy[Any]]:
    try:
        return STRATEGIES[mode]
    except KeyError:
        raise UnknownStrategy(
            f"no strategy for mode {mode!r}; known: {', '.join(sorted(STRATEGIES))}"
        ) from None


def create_strategy(
    mode: str,
    bus: Bus,
    clock: Clock,
    ids: IdFactory,
    params: StrategyParams,
    *,
    prices: PriceBook | None = None,
) -> Strategy[Any]:
    """The strategy of ``mode`` with its parameters (of the class's ``params_type``)."""
    return strategy_class(mode)(bus, clock, ids, params, prices=prices)
