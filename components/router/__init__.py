"""The execution router: instructions addressed to ``venue="router"`` go to the venue of their action type.

See :mod:`basis.components.router.router` for the protocol and :mod:`.actions` for the action map.
"""

from .actions import (
    DEFAULT_ACTIONS,
    FLASH_LOAN,
    HEDGE,
    LENDING,
    ROUTER,
    SPOT,
    STAKING,
    SWAP,
    UNWIND,
    WALLET_TRANSFER,
    ActionMap,
    Leg,
    RoutingError,
    action_of,
)
from .router import ExecutionRouter, RouterParams

__all__ = [
    "DEFAULT_ACTIONS",
    "FLASH_LOAN",
    "HEDGE",
    "LENDING",
    "ROUTER",
    "SPOT",
    "STAKING",
    "SWAP",
    "UNWIND",
    "WALLET_TRANSFER",
    "ActionMap",
    "ExecutionRouter",
    "Leg",
    "RouterParams",
    "RoutingError",
    "action_of",
]
