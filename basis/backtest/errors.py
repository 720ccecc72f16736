"""Errors of a backtest run that the user can fix (mode, window, flows, data)."""

from __future__ import annotations


class BacktestError(Exception):
    """A backtest cannot run as asked; the message names what is wrong."""


class RunAborted(BacktestError):
    """A component failed during the run (a dead-lettered message or a handler error)."""
