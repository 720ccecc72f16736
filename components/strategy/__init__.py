"""Strategy processes: one decision loop (:class:`Strategy`) and small mode subclasses that compute targets.

=====================  ==========================  ==========================
mode                   class                       parameters
=====================  ==========================  ==========================
``pure_lending_usdt``  :class:`PureLendingStrategy`  :class:`LendingParams`
``btc_basis``          :class:`BtcBasisStrategy`     :class:`BasisParams`
``eth_basis``          :class:`EthBasisStrategy`     :class:`BasisParams`
``eth_staking_only``   :class:`StakingStrategy`      :class:`StakingParams`
``eth_leveraged``      :class:`LeveragedStakingStrategy` :class:`LeveragedStakingParams`
=====================  ==========================  ==========================
"""

from .base import Strategy, Trigger
from .basis import BasisStrategy, BtcBasisStrategy, EthBasisStrategy
from .hedged import HedgedStakingStrategy
from .hedged_leveraged import HedgedLeveragedStrategy
from .lending import PureLendingStrategy
from .leveraged import LeveragedStakingStrategy
from .params import (
    BasisParams,
    HedgedLeveragedParams,
    HedgedStakingParams,
    LendingParams,
    LeveragedStakingParams,
    StakingParams,
    StrategyParams,
    derive_margin_buffer,
)
from .registry import STRATEGIES, UnknownStrategy, create_strategy, strategy_class
from .staking import StakingStrategy
from .view import Target, View

__all__ = [
    "STRATEGIES",
    "BasisParams",
    "BasisStrategy",
    "BtcBasisStrategy",
    "EthBasisStrategy",
    "HedgedLeveragedParams",
    "HedgedLeveragedStrategy",
    "HedgedStakingParams",
    "HedgedStakingStrategy",
    "LendingParams",
    "LeveragedStakingParams",
    "LeveragedStakingStrategy",
    "PureLendingStrategy",
    "StakingParams",
    "StakingStrategy",
    "Strategy",
    "StrategyParams",
    "Target",
    "Trigger",
    "UnknownStrategy",
    "View",
    "create_strategy",
    "derive_margin_buffer",
    "strategy_class",
]
