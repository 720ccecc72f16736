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

from basis.bus.ids import IdFactory
from basis.bus.messages import Bar, Message
from basis.components.feed import Catalogue, Coverage, Gap, SeriesSpec, Stream, coverage, iso, read_spans
from basis.components.feed.loaders import close_iterator
from basis.components.feed.times import NS

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
        """The fallback's bars inside the holes. Only the fallback's rows in the holes are read into
        numbers; the ids are those its messages would take from the first hole's start on, one per row,
        so the rows between the holes take theirs without a message built."""
        holes = self.holes
        own = self._closes_at(self.series, {hole.start for hole in holes})
        fallback = self.fallback
        interval = fallback.interval_s or 0
        venue, symbol, market = self.series.venue, fallback.symbol, fallback.market or "spot"
        taken = 0  # ids taken so far
        i = 0
        scale = 1.0
        rows = read_spans(fallback, self.roots, [(hole.start, hole.end) for hole in holes])
        try:
            for n, ts, (open_, high, low, close, volume) in rows:
                while holes[i].end <= ts:
                    i += 1
                    scale = 1.0
                hole = holes[i]
                if ts == hole.start:
                    last = own.get(ts)
                    scale = last / close if last and close else 1.0
                elif hole.start < ts:
                    while taken < n - 1:
                        ids.next_id()
                        taken += 1
                    taken += 1
                    yield Bar(
                        id=ids.next_id(),
                        ts=ts,
                        venue=venue,
                        symbol=symbol,
                        market=market,
                        open_ts=ts - interval * NS,
                        interval_s=interval,
                        open=open_ * scale,
                        high=high * scale,
                        low=low * scale,
                        close=close * scale,
                        volume=volume,
                    )
        finally:
            close_iterator(rows)

    def _closes_at(self, spec: SeriesSpec, times: set[int]) -> dict[int, float]:
        """The closes of ``spec``'s bars at ``times`` (read apart: these bars are not published again;
        only their rows are parsed)."""
        spans = [(ts, ts + 1) for ts in sorted(times)]
        return {ts: values[3] for _, ts, values in read_spans(spec, self.roots, spans)}

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
