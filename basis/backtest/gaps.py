"""The gap rule for price series.

A bar series may have holes (the Binance files miss a day every ~41 days; the OKX ETH perp file has
two 30-day holes). Holes up to :data:`MAX_HOLD_S` are held: valuations and fills use the last close,
which the price book accepts up to its staleness limit. A longer hole inside the window is filled from
another venue's series of the same symbol and market (one the mode replays, else the first the data
holds), published under the venue that lacks it, and every such fill is listed in ``summary.json``. A
longer hole with no fallback series stops the run when the price goes stale, with an error naming the
series, never a silent zero.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from basis.bus.ids import IdFactory
from basis.bus.messages import Bar, Message
from basis.components.feed import Catalogue, Coverage, SeriesReader, SeriesSpec, Stream, iso

from .wiring import Wiring

MAX_HOLD_S = 36 * 3600
"""Holes of bar series up to this long are held at the last close (below the price book's 48 h limit)."""


@dataclass(frozen=True, slots=True)
class GapFill:
    series: SeriesSpec
    fallback: SeriesSpec
    start: int
    """Last message before the hole (exclusive)."""
    end: int
    """First message after the hole (exclusive)."""
    roots: tuple[Path, ...]

    def stream(self, ids: IdFactory) -> Stream:
        return Stream.of(self.series, self._messages(ids))

    def _messages(self, ids: IdFactory) -> Iterator[Message]:
        reader = SeriesReader(self.fallback, list(self.roots), ids, start=self.start + 1, end=self.end)
        venue = self.series.venue
        for message in reader:
            if isinstance(message, Bar) and self.start < message.ts < self.end:
                yield msgspec.structs.replace(message, venue=venue)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": "hole longer than 36h filled from another venue's series",
            "series": self.series.name,
            "from": self.fallback.name,
            "start": iso(self.start),
            "end": iso(self.end),
        }


def plan_gap_fills(
    wiring: Wiring,
    coverage: Sequence[Coverage],
    roots: Sequence[Path],
    window: tuple[int, int],
    catalogue: Catalogue | None = None,
) -> list[GapFill]:
    """A fill for every bar hole longer than :data:`MAX_HOLD_S` inside ``window``.

    The fallback is another venue's series of the same symbol and market: one the mode replays if there
    is one, else the first such series of ``catalogue`` (in catalogue order, so the choice is stable).
    """
    fills: list[GapFill] = []
    bars = [c.spec for c in coverage if c.spec.kind == "bar"]
    candidates = bars + ([s for s in catalogue.of_kind("bar") if s not in bars] if catalogue else [])
    for cov in coverage:
        spec = cov.spec
        if spec.kind != "bar":
            continue
        fallback = next(
            (
                c
                for c in candidates
                if c.venue != spec.venue and c.symbol == spec.symbol and c.market == spec.market
            ),
            None,
        )
        for gap in cov.gaps:
            if gap.end - gap.start <= MAX_HOLD_S * 1_000_000_000:
                continue
            if gap.end <= window[0] or gap.start >= window[1] or fallback is None:
                continue
            fills.append(GapFill(spec, fallback, gap.start, gap.end, tuple(roots)))
    return fills


def held_gaps(coverage: Sequence[Coverage], window: tuple[int, int]) -> list[dict[str, Any]]:
    """Holes inside the window that were held at the last value (for the summary)."""
    held = []
    for cov in coverage:
        for gap in cov.gaps:
            if gap.end <= window[0] or gap.start >= window[1]:
                continue
            if cov.spec.kind != "bar" or gap.end - gap.start <= MAX_HOLD_S * 1_000_000_000:
                rule = (
                    "funding paid only at real funding timestamps: no settlement in the hole"
                    if cov.spec.kind == "funding"
                    else "held at the last value"
                )
                held.append(
                    {
                        "series": cov.spec.name,
                        "start": iso(gap.start),
                        "end": iso(gap.end),
                        "missing": gap.missing,
                        "rule": rule,
                    }
                )
    return held
