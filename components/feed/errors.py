"""Errors of the historical-data layer, one hierarchy::

    DataError
    ├── LayoutError          a data root is unusable (not a folder, two files for one series)
    ├── MissingSeriesError   a series is needed but no data root holds its file
    ├── MalformedRowError    a row (or the header) of a data file cannot be read
    ├── NonMonotonicError    a data file goes back in time
    ├── FlowsFileError       an investor-flows file cannot be read
    └── WindowError          a replay window is empty or the series do not overlap

Every message is one line and names the file (and line and column where there is one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class DataError(Exception):
    """Base of every historical-data error."""


class LayoutError(DataError):
    """A data root cannot be used as it is."""


class MissingSeriesError(DataError):
    """No data root holds a series that is needed; ``paths`` are the files looked for."""

    def __init__(self, series: str, paths: Sequence[Path | str]) -> None:
        self.series = series
        self.paths = tuple(str(p) for p in paths)
        looked = ", ".join(self.paths) if self.paths else "no file name is known for it"
        super().__init__(f"series {series} not found: looked for {looked}")


class MalformedRowError(DataError):
    """A row of a data file cannot be read. ``line`` is 1-based (the header is line 1)."""

    def __init__(self, path: Path | str, line: int, column: str | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.column = column
        self.problem = problem
        where = f"{self.path}:{line}" + (f": column {column!r}" if column else "")
        super().__init__(f"{where}: {problem}")


class NonMonotonicError(DataError):
    """A data file has a row whose time is before the time of the row above it."""

    def __init__(self, path: Path | str, line: int, ts: str, previous: str) -> None:
        self.path = str(path)
        self.line = line
        super().__init__(f"{self.path}:{line}: time {ts} is before the previous row's time {previous}")


class FlowsFileError(DataError):
    """An investor-flows file cannot be read."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}")


class WindowError(DataError):
    """A replay window is empty, or the series of a mode have no common span."""
