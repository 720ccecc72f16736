"""Backtests: every component on one deterministic in-process bus, replaying historical data."""

from __future__ import annotations

from .errors import BacktestError, RunAborted
from .request import BacktestRequest
from .run import Backtest

__all__ = ["Backtest", "BacktestError", "BacktestRequest", "RunAborted"]
