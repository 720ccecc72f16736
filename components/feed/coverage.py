"""Coverage of each series: its span, its expected interval and every hole, in message time.

Times are those of the messages the feed publishes (a bar at its close). A series covers
``[first, last + interval)``: it is there until its next expected message. A *gap* is a spacing between
two consecutive messages larger than ``interval + jitter``: no message in the open interval
``(gap.start, gap.end)``, ``missing`` expected messages lost. For hourly bars ``gap.start`` is also the
open time of the first missing candle. Irregular series (rewards) have no interval, no gaps and do not
bound a window.

Only the time column is read; the times of each file are cached per path, modification time and size
(:func:`.loaders.file_times`), so a second coverage of the same files is free, and a reader of the file
takes them instead of parsing its time cells again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WindowError
from .loaders import clear_scans, series_times
from .series import SeriesSpec
from .times import NS, iso


@dataclass(frozen=True, slots=True)
class Gap:
    """No message in ``(start, end)``; ``missing`` expected messages fell in it."""

    start: int
    end: int
    missing: int

    def to_dict(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end), "missing": self.missing}


@dataclass(frozen=True, slots=True)
class Coverage:
    spec: SeriesSpec
    files: tuple[str, ...]
    first: int
    last: int
    rows: int
    gaps: tuple[Gap, ...]
    duplicates: int

    @property
    def interval_s(self) -> int | None:
        return self.spec.interval_s

    @property
    def end(self) -> int:
        """Exclusive end of the covered span: one interval after the last message (irregular: just after)."""
        return self.last + (self.spec.interval_s * NS if self.spec.interval_s else 1)

    @property
    def missing(self) -> int:
        return sum(g.missing for g in self.gaps)

    def gaps_within(self, start: int, end: int) -> tuple[Gap, ...]:
        """The gaps that overlap ``[start, end)``."""
        return tuple(g for g in self.gaps if g.end > start and g.start < end)

    def to_dict(self) -> dict[str, Any]:
        return {
            "series": self.spec.name,
            "path": self.spec.path,
            "files": list(self.files),
            "first": iso(self.first),
            "last": iso(self.last),
            "interval_s": self.spec.interval_s,
            "rows": self.rows,
            "duplicates": self.duplicates,
            "missing": self.missing,
            "gaps": [g.to_dict() for g in self.gaps],
        }


def find_gaps(times: Sequence[int], interval_s: int, jitter_s: int = 0) -> tuple[Gap, ...]:
    step = interval_s * NS
    limit = step + jitter_s * NS
    gaps: list[Gap] = []
    previous = None
    for ts in times:
        if previous is not None and ts - previous > limit:
            gaps.append(Gap(previous, ts, max(round((ts - previous) / step) - 1, 1)))
        previous = ts
    return tuple(gaps)


def coverage(spec: SeriesSpec, roots: Sequence[Path]) -> Coverage:
    """Coverage of ``spec`` over ``roots``; :class:`MissingSeriesError` when no root has it."""
    times, files, duplicates = series_times(spec, roots)
    if not times:
        raise WindowError(f"series {spec.name} has no rows in {', '.join(files)}")
    gaps = find_gaps(times, spec.interval_s, spec.jitter_s) if spec.interval_s else ()
    return Coverage(spec, files, times[0], times[-1], len(times), gaps, duplicates)


def coverages(specs: Iterable[SeriesSpec], roots: Sequence[Path]) -> list[Coverage]:
    return [coverage(spec, roots) for spec in specs]


def common_window(covered: Sequence[Coverage]) -> tuple[int, int]:
    """The span ``[start, end)`` where every regular series exists: latest first, earliest end.

    Raises :class:`WindowError` when the series do not overlap (naming the two that do not).
    """
    regular = [c for c in covered if c.spec.regular]
    if not regular:
        raise WindowError("no regularly sampled series to bound the window")
    latest_start = max(regular, key=lambda c: c.first)
    earliest_end = min(regular, key=lambda c: c.end)
    if latest_start.first >= earliest_end.end:
        raise WindowError(
            f"series do not overlap: {latest_start.spec.name} starts {iso(latest_start.first)}, "
            f"{earliest_end.spec.name} ends {iso(earliest_end.end)}"
        )
    return latest_start.first, earliest_end.end


def clear_cache() -> None:
    """Forget the times of the files scanned (:func:`.loaders.file_times`)."""
    clear_scans()
