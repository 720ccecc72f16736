"""Which exceptions are the user's to fix (bad input) rather than bugs."""

from __future__ import annotations

import functools


@functools.cache
def user_errors() -> tuple[type[BaseException], ...]:
    """Every error caused by bad input: configs, data files, arguments, messages, venues, the store."""
    from basis.backtest.errors import BacktestError
    from basis.bus.errors import BusError
    from basis.components.feed import DataError
    from basis.components.pricing import PriceError
    from basis.configs import ConfigError
    from basis.venues.errors import VenueError

    return (FileNotFoundError, BusError, ConfigError, DataError, BacktestError, VenueError, PriceError)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
