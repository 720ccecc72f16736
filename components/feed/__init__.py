"""Historical data and the market-data feed of a backtest.

* :mod:`.series` — :class:`SeriesSpec` and the :class:`Catalogue` a data root's layout holds;
* :mod:`.loaders` — streaming readers, one file (over several roots) -> bus messages;
* :mod:`.coverage` — span, interval and gaps of each series; a mode's default window;
* :mod:`.merge` — time-ordered merge of many streams with a fixed order for equal times;
* :mod:`.feed` — :class:`MarketDataFeed`, the component that replays it all and drives the clock;
* :mod:`.flows` — the investor-flows file; :mod:`.synthetic` — benchmark data.
"""

from __future__ import annotations

from .coverage import Coverage, Gap, common_window, coverage, coverages
from .errors import (
    DataError,
    FlowsFileError,
    LayoutError,
    MalformedRowError,
    MissingSeriesError,
    NonMonotonicError,
    WindowError,
)
from .feed import MarketDataFeed
from .flows import read_flows
from .loaders import ReadStats, SeriesReader, read_series, read_spans
from .merge import KIND_ORDER, Stream, merge
from .series import Catalogue, SeriesSpec, discover, parse_name
from .times import iso, parse_utc

__all__ = [
    "KIND_ORDER",
    "Catalogue",
    "Coverage",
    "DataError",
    "FlowsFileError",
    "Gap",
    "LayoutError",
    "MalformedRowError",
    "MarketDataFeed",
    "MissingSeriesError",
    "NonMonotonicError",
    "ReadStats",
    "SeriesReader",
    "SeriesSpec",
    "Stream",
    "WindowError",
    "common_window",
    "coverage",
    "coverages",
    "discover",
    "iso",
    "merge",
    "parse_name",
    "parse_utc",
    "read_flows",
    "read_series",
    "read_spans",
]
