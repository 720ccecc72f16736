"""The gap rule for price series: a hole is marked to the same market on another venue.

A bar series may have holes, a hole being at least one missing expected bar given the series interval
(the Binance files miss a day every ~41 days; the OKX ETH perp file has two 30-day holes). Within any
hole inside the window, however short, the venue's instrument is marked to another venue's series of
the same symbol and market: its bars, scaled by the ratio of the two closes at the start of the hole
(so the mark starts from the venue's own last close and then moves as the other venue's does), are
published under the venue that lacks them. Valuations, perp marks that proxy to the series, and fills
all use a price that moves with the market. Holding a price flat while the other legs of a hedged book
move would invent a price PnL that snaps back when the bars return; switching to the other venue's
level would book the two venues' price difference as PnL.

The series marked to is, for each hole, the first of the candidates (the series the mode replays,
then the rest of the data in catalogue order, so the choice is stable) that has no hole of its own
overlapping it, else the first candidate. Only when no other series of the market exists is a hole
held at the last value, which the price book accepts up to its staleness limit (48 h for hourly bars);
beyond it the run stops with an error naming the series, never a silent zero.

``summary.json`` → ``gap_rules`` lists every hole inside the window once, with the rule applied to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from basis.bus.ids import IdFactory, SequentialIds
from basis.bus.messages import Bar, Message
from basis.components.feed import Catalogue, Coverage, Gap, SeriesReader, SeriesSpec, Stream, coverage, iso

from .wiring import Wiring

MARKED_RULE = "marked to the same market on another venue, from this series' last close"
HELD_RULE = "held at the last value (no other series of this market)"
FUNDING_RULE = "funding paid only at real funding timestamps: no settlement in the hole"


@dataclass(frozen=True, slots=True)
class GapFill:
    """The holes of ``series`` marked to ``fallback``: one stream of the fallback's bars inside them,
    each hole's scaled by ``series`` close ÷ ``fallback`` close at the hole's start (1 when either is
    missing there)."""

    series: SeriesSpec
    fallback: SeriesSpec
    holes: tuple[Gap, ...]
    """Each hole: no bar of ``series`` in ``(start, end)`` (the times of the bars on either side)."""
    roots: tuple[Path, ...]

    def stream(self, ids: IdFactory) -> Stream:
        return Stream.of(self.series, self._messages(ids))

    def _messages(self, ids: IdFactory) -> Iterator[Message]:
        holes = self.holes
        own = self._closes_at(self.series, {hole.start for hole in holes})
        reader = SeriesReader(self.fallback, list(self.roots), ids, start=holes[0].start, end=holes[-1].end)
        venue = self.series.venue
        i = 0
        scale = 1.0
        for message in reader:
            if not isinstance(message, Bar):
                continue
            ts = message.ts
            while i < len(holes) and holes[i].end <= ts:
                i += 1
                scale = 1.0
            if i == len(holes):
                return
            hole = holes[i]
            if ts == hole.start:
                last = own.get(ts)
                scale = last / message.close if last and message.close else 1.0
            elif hole.start < ts:
                yield msgspec.structs.replace(
                    message,
                    venue=venue,
                    open=message.open * scale,
                    high=message.high * scale,
                    low=message.low * scale,
                    close=message.close * scale,
                )

    def _closes_at(self, spec: SeriesSpec, times: set[int]) -> dict[int, float]:
        """The closes of ``spec``'s bars at ``times`` (read apart: these bars are not published again)."""
        first, last = min(times), max(times)
        reader = SeriesReader(
            spec, list(self.roots), SequentialIds("", "gap-anchor"), start=first, end=last + 1
        )
        return {m.ts: m.close for m in reader if isinstance(m, Bar) and m.ts in times}

    def to_dicts(self) -> list[dict[str, Any]]:
        return [
            {
                "series": self.series.name,
                "start": iso(hole.start),
                "end": iso(hole.end),
                "missing": hole.missing,
                "rule": MARKED_RULE,
                "marks_to": self.fallback.name,
            }
            for hole in self.holes
        ]


def _overlaps(gap: Gap, window: tuple[int, int]) -> bool:
    return gap.end > window[0] and gap.start < window[1]


def plan_gap_fills(
    wiring: Wiring,
    coverage_of: Sequence[Coverage],
    roots: Sequence[Path],
    window: tuple[int, int],
    catalogue: Catalogue | None = None,
) -> list[GapFill]:
    """How every bar hole overlapping ``window`` is marked: one :class:`GapFill` per (series, series
    marked to), its holes in time order. Holes with no other series of their market are left out (held).
    ``wiring`` is not read: the series the mode replays are those of ``coverage_of``."""
    bars = [c.spec for c in coverage_of if c.spec.kind == "bar"]
    candidates = bars + ([s for s in catalogue.of_kind("bar") if s not in bars] if catalogue else [])
    known: dict[SeriesSpec, Coverage] = {c.spec: c for c in coverage_of}

    def covered(spec: SeriesSpec) -> Coverage:
        if spec not in known:
            known[spec] = coverage(spec, roots)
        return known[spec]

    plans: dict[tuple[SeriesSpec, SeriesSpec], list[Gap]] = {}
    for cov in coverage_of:
        spec = cov.spec
        if spec.kind != "bar":
            continue
        others = [
            c
            for c in candidates
            if c.venue != spec.venue
            and c.symbol == spec.symbol
            and c.market == spec.market
            and c.interval_s == spec.interval_s
        ]
        if not others:
            continue
        for gap in cov.gaps:
            if not _overlaps(gap, window):
                continue
            whole = (
                c
                for c in others
                if covered(c).first <= gap.start
                and covered(c).last >= gap.end
                and not covered(c).gaps_within(gap.start + 1, gap.end)
            )
            fallback = next(whole, others[0])
            plans.setdefault((spec, fallback), []).append(gap)
    return [GapFill(spec, fallback, tuple(holes), tuple(roots)) for (spec, fallback), holes in plans.items()]


def gap_rules(
    coverage_of: Sequence[Coverage], fills: Sequence[GapFill], window: tuple[int, int]
) -> list[dict[str, Any]]:
    """Every hole of every replayed series that overlaps ``window``, once, with the rule applied to it:
    marked to another venue's series (``marks_to`` names it), held at the last value, or (funding) no
    settlement. Ordered by series, then time."""
    marked: dict[tuple[str, int], dict[str, Any]] = {}
    for fill in fills:
        for hole, entry in zip(fill.holes, fill.to_dicts(), strict=True):
            marked[(fill.series.name, hole.start)] = entry
    rules: list[dict[str, Any]] = []
    for cov in coverage_of:
        for gap in cov.gaps:
            if not _overlaps(gap, window):
                continue
            held = {
                "series": cov.spec.name,
                "start": iso(gap.start),
                "end": iso(gap.end),
                "missing": gap.missing,
                "rule": FUNDING_RULE if cov.spec.kind == "funding" else HELD_RULE,
            }
            rules.append(marked.get((cov.spec.name, gap.start), held))
    return rules
