"""Simulated venues for backtests: each a pure state class (the accounting) and a gateway component.

=================  ============================  ===========================================
module             state                          gateway (cmd.<venue>.*)
=================  ============================  ===========================================
:mod:`.cex`        :class:`CexAccount`            :class:`SimulatedCex` (binance, bybit, okx)
:mod:`.aave`       :class:`AaveAccount`           :class:`SimulatedAave` (aave_v3)
:mod:`.wallet`     (wallet balances)              :class:`SimulatedWallet` (wallet)
:mod:`.staking`    :class:`StakingPool`           :class:`SimulatedStaking` (lido, etherfi)
:mod:`.dex`        :class:`DexPools`              :class:`SimulatedDex` (uniswap)
=================  ============================  ===========================================

Shared pieces: :mod:`.ledger` (balances by instrument key), :mod:`.onchain` (gas, the wallet's view, the
ETH/WETH rule), :mod:`.pending` (funds in flight), :mod:`.prices` (bar series and closes).
"""

from .aave import AaveAccount, RiskParams, SimulatedAave
from .cex import CexAccount, SimulatedCex
from .dex import DexPools, SimulatedDex
from .staking import SimulatedStaking, StakingPool
from .wallet import SimulatedWallet

__all__ = [
    "AaveAccount",
    "CexAccount",
    "DexPools",
    "RiskParams",
    "SimulatedAave",
    "SimulatedCex",
    "SimulatedDex",
    "SimulatedStaking",
    "SimulatedWallet",
    "StakingPool",
]
