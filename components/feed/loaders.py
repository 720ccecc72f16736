"""Streaming readers: one data file (or the same file in several roots) -> bus messages, constant memory.

Message times (ns since the epoch, UTC):

* ``Bar``: the candle's close, ``ts = open + interval`` (``open_ts`` = the file's ``timestamp``), so a
  bar is only seen once it is complete;
* ``FundingRate``: the settlement time;
* ``ReserveState``, ``OraclePrice``, ``LstRate``: the snapshot time;
* ``GasPrice``: the sampled block's ``block_timestamp`` (not the nominal hour, see the data README);
* ``RewardDistribution``: the file's ``timestamp`` (period end or payout date); the period's dates, the
  total distributed and the staked amounts that shared it when the file has them (``SeriesSpec.extra``).

Several roots: the file of a series is read from every root that has it, in root order. A later root
only contributes rows whose time is after the last time read from the earlier roots, so it extends the
series in time and never overrides it: on overlap the earlier root wins. Within a file, times must not
decrease (:class:`NonMonotonicError`); a row with the same time as the row above is dropped (the first
is kept) and counted in :attr:`ReadStats.duplicates`.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import TextIO

from basis.bus.ids import IdFactory
from basis.bus.messages import (
    Bar,
    FundingRate,
    GasPrice,
    LstRate,
    Message,
    OraclePrice,
    ReserveState,
    RewardDistribution,
)

from .errors import MalformedRowError, MissingSeriesError, NonMonotonicError
from .series import PERIOD_COLUMNS, STAKED_COLUMNS, SeriesSpec
from .times import NS, iso, parse_utc

DAY_NS = 86_400 * NS

Builder = Callable[[SeriesSpec, int, list[float], IdFactory], Message]

# Columns each kind reads: the time column first, then the numeric values handed to its builder.
COLUMNS: dict[str, tuple[str, ...]] = {
    "bar": ("timestamp", "open", "high", "low", "close", "volume"),
    "funding": ("timestamp", "funding_rate"),
    "reserve": (
        "timestamp",
        "liquidity_index",
        "variable_borrow_index",
        "current_liquidity_rate",
        "current_variable_borrow_rate",
        "oracle_price_usd",
    ),
    "oracle": ("timestamp", "price_usd"),
    "lst": ("timestamp", "price_eth"),
    "gas": ("block_timestamp", "base_fee_gwei", "priority_fee_p50_gwei"),
    "reward": ("timestamp",),  # + the spec's value column
}
UNIX_SECONDS_COLUMNS = frozenset({"block_timestamp"})


def _bar(spec: SeriesSpec, ts: int, v: list[float], ids: IdFactory) -> Message:
    interval = spec.interval_s or 0
    return Bar(
        id=ids.next_id(),
        ts=ts,
        venue=spec.venue,
        symbol=spec.symbol,
        market=spec.market or "spot",
        open_ts=ts - interval * NS,
        interval_s=interval,
        open=v[0],
        high=v[1],
        low=v[2],
        close=v[3],
        volume=v[4],
    )


def _funding(spec: SeriesSpec, ts: int, v: list[float], ids: IdFactory) -> Message:
    hours = (spec.interval_s or 0) // 3_600
    return FundingRate(
        id=ids.next_id(), ts=ts, venue=spec.venue, symbol=spec.symbol, rate=v[0], interval_hours=hours
    )


def _reserve(spec: SeriesSpec, ts: int, v: list[float], ids: IdFactory) -> Message:
    return ReserveState(
        id=ids.next_id(),
        ts=ts,
        venue=spec.venue,
        asset=spec.symbol,
        liquidity_index=v[0],
        variable_borrow_index=v[1],
        liquidity_rate=v[2],
        variable_borrow_rate=v[3],
        price_usd=v[4],
    )


def _oracle(spec: SeriesSpec, ts: int, v: list[float], ids: IdFactory) -> Message:
    return OraclePrice(
        id=ids.next_id(), ts=ts, venue=spec.venue, asset=spec.symbol, quote=spec.quote, price=v[0]
    )


def _lst(spec: SeriesSpec, ts: int, v: list[float], ids: IdFactory) -> Message:
    return LstRate(id=ids.next_id(), ts=ts, venue=spec.venue, token=spec.symbol, rate=v[0])


def _gas(spec: SeriesSpec, ts: int, v: list[float], ids: IdFactory) -> Message:
    return GasPrice(
        id=ids.next_id(),
        ts=ts,
        chain=spec.venue,
        base_fee_gwei=v[0],
        priority_fee_gwei=v[1],
        price_gwei=v[0] + v[1],
    )


def _reward(spec: SeriesSpec, ts: int, v: list[float], ids: IdFactory) -> Message:
    extra = dict(zip(spec.extra, v[1:], strict=True))
    start, end = (extra.get(c) for c in PERIOD_COLUMNS)
    return RewardDistribution(
        id=ids.next_id(),
        ts=ts,
        venue=spec.venue,
        token=spec.quote,
        reward_token=spec.symbol,
        amount_per_unit=v[0],
        period_start=0 if start is None else int(start),
        period_end=0 if end is None else int(end) + DAY_NS,  # the last day is included
        distributed=extra.get(f"{spec.symbol.lower()}_earned", 0.0),
        staked=sum(extra.get(c, 0.0) for c in STAKED_COLUMNS),
    )


BUILDERS: dict[str, Builder] = {
    "bar": _bar,
    "funding": _funding,
    "reserve": _reserve,
    "oracle": _oracle,
    "lst": _lst,
    "gas": _gas,
    "reward": _reward,
}


def columns_of(spec: SeriesSpec) -> tuple[str, ...]:
    """The columns read for ``spec``: its time column, then its values."""
    columns = COLUMNS[spec.kind]
    return (*columns, spec.column, *spec.extra) if spec.kind == "reward" else columns


def _date_ns(text: str) -> float:
    """A ``YYYY-MM-DD`` cell as its 00:00 UTC in ns (exact in a float)."""
    return float(parse_utc(f"{text}T00:00:00Z"))


def _cells_parser(spec: SeriesSpec) -> Callable[[Sequence[str]], list[float]] | None:
    """How the value cells of ``spec``'s rows become numbers when some are dates (the period of a reward
    row); None when every cell is a number (the common case, parsed inline)."""
    dated = [i for i, c in enumerate(columns_of(spec)[1:]) if c in PERIOD_COLUMNS]
    if not dated:
        return None

    def parse(cells: Sequence[str]) -> list[float]:
        return [_date_ns(c) if i in dated else float(c) for i, c in enumerate(cells)]

    return parse


# --- rows -----------------------------------------------------------------------------------------


def open_text(path: Path) -> TextIO:
    """A text handle on a CSV file, decompressing ``.gz`` on the fly."""
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _diagnose(path: Path, line: int, columns: Sequence[str], cells: Sequence[str]) -> MalformedRowError:
    """The error for a row whose values did not parse: the first bad column and why."""
    for column, text in zip(columns[1:], cells[1:], strict=True):
        try:
            _date_ns(text) if column in PERIOD_COLUMNS else _number(text)
        except ValueError as exc:
            what = "a date (YYYY-MM-DD)" if column in PERIOD_COLUMNS else "a number"
            problem = "empty value" if not text.strip() else f"{text!r} is not {what} ({exc})"
            return MalformedRowError(path, line, column, problem)
    return MalformedRowError(path, line, None, "row cannot be read")


def _time(path: Path, line: int, column: str, text: str) -> int:
    try:
        if column in UNIX_SECONDS_COLUMNS:
            return int(text) * NS
        return parse_utc(text)
    except ValueError as exc:
        problem = "empty value" if not text.strip() else str(exc)
        raise MalformedRowError(path, line, column, problem) from None


_TIMES: dict[str, int] = {}
_TIMES_LIMIT = 4_096
"""Small on purpose: the series of a replay are read in step, so a time repeats within a few rows (the spot
and perp bars of one hour); a larger memo only holds memory that grows with the window."""


def _utc(text: str) -> int:
    """:func:`parse_utc` of a time cell, memoised: the files of a replay repeat the same times (the spot
    and perp bars of one hour), so most cells are parsed once."""
    ts = _TIMES.get(text)
    if ts is None:
        ts = parse_utc(text)
        if len(_TIMES) >= _TIMES_LIMIT:
            _TIMES.clear()
        _TIMES[text] = ts
    return ts


def _header(path: Path, reader: Iterator[list[str]], columns: Sequence[str]) -> tuple[int, list[int]]:
    """The width of the file's rows and where ``columns`` are in them, from its header row."""
    header = next(reader, None)
    if header is None:
        raise MalformedRowError(path, 1, None, "empty file (no header row)")
    index = {name: i for i, name in enumerate(header)}
    for column in columns:
        if column not in index:
            raise MalformedRowError(path, 1, column, f"missing column (header: {','.join(header)})")
    return len(header), [index[c] for c in columns]


def _picker(at: list[int]) -> Callable[[list[str]], Sequence[str]]:
    """The cells at ``at`` of a row, as a sequence (also for a single index)."""
    if len(at) > 1:
        return itemgetter(*at)
    only = at[0]
    return lambda row: (row[only],)


def _no_values(row: list[str]) -> Sequence[str]:
    """:attr:`FileScan.values` until the header says where the value cells are."""
    return ()


def _unreadable(path: Path, line: int, exc: Exception) -> MalformedRowError:
    return MalformedRowError(path, line, None, f"cannot read the file: {exc}")


READ_ERRORS = (OSError, EOFError, UnicodeDecodeError, csv.Error)
"""What reading a damaged file raises (reported as :class:`MalformedRowError` naming the line)."""


def close_iterator(iterator: Iterator[object]) -> None:
    """Close a generator left part-read now: a compiled (mypyc) generator does not when it is collected, so
    the files it reads would stay open."""
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


class FileScan:
    """The rows of one file with their message time, in file order, checked and de-duplicated.

    Iterating yields ``(time, row)``: the width and the time of every row are checked here (what the
    coverage scan needs, and what :class:`SeriesReader` builds on). Rows with the same time as the row
    above are dropped and counted in :attr:`duplicates`; :attr:`line` is the line last read and
    :attr:`picks` where the spec's columns are in a row and :attr:`values` the picker of its value cells
    (both set once the header is read).
    """

    def __init__(self, spec: SeriesSpec, path: Path) -> None:
        self.spec = spec
        self.path = path
        self.columns = columns_of(spec)
        self.duplicates = 0
        self.line = 1
        self.picks: list[int] = []
        self.values: Callable[[list[str]], Sequence[str]] = _no_values

    def times(self) -> Iterator[int]:
        """Only the times."""
        for ts, _ in self:
            yield ts

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        spec, path, columns = self.spec, self.path, self.columns
        ts_col = columns[0]
        unix_seconds = ts_col in UNIX_SECONDS_COLUMNS
        shift = (spec.interval_s or 0) * NS if spec.kind == "bar" else 0
        try:
            with open_text(path) as handle:
                reader = csv.reader(handle)
                width, self.picks = _header(path, reader, columns)
                self.values = _picker(self.picks[1:])
                ts_at = self.picks[0]
                previous = -(2**63)
                for row in reader:
                    line = self.line = reader.line_num
                    if len(row) != width:
                        if not row:
                            continue
                        raise MalformedRowError(path, line, None, f"expected {width} fields, got {len(row)}")
                    text = row[ts_at]
                    try:
                        ts = (int(text) * NS if unix_seconds else _utc(text)) + shift
                    except ValueError:
                        ts = _time(path, line, ts_col, text) + shift  # raises, naming the problem
                    if ts <= previous:
                        if ts == previous:
                            self.duplicates += 1
                            continue
                        raise NonMonotonicError(path, line, iso(ts - shift), iso(previous - shift))
                    previous = ts
                    yield ts, row
        except READ_ERRORS as exc:
            raise _unreadable(path, self.line, exc) from None


# --- one series over several roots ----------------------------------------------------------------


@dataclass(slots=True)
class ReadStats:
    """What a :class:`SeriesReader` did: messages yielded and rows dropped, by reason."""

    files: tuple[str, ...] = ()
    messages: int = 0
    duplicates: int = 0
    overlap: int = 0
    """Rows of a later root at or before the last time of the earlier roots (the earlier root wins)."""
    before_start: int = 0
    per_file: dict[str, int] = field(default_factory=dict)


def series_files(spec: SeriesSpec, roots: Sequence[Path]) -> list[Path]:
    """The files of ``spec`` in ``roots`` (root order); :class:`MissingSeriesError` when none has it."""
    files = [Path(root) / spec.path for root in roots if (Path(root) / spec.path).is_file()]
    if not files:
        raise MissingSeriesError(spec.name, [Path(root) / spec.path for root in roots])
    return files


class SeriesReader:
    """The messages of one series over ``roots``, within ``[start, end)``, streamed row by row.

    Each message takes its ``id`` from ``ids`` when it is built; rows outside the window build none, so
    the same inputs and window always give the same ids. Iterate once.
    """

    def __init__(
        self,
        spec: SeriesSpec,
        roots: Sequence[Path],
        ids: IdFactory,
        *,
        start: int | None = None,
        end: int | None = None,
    ) -> None:
        self.spec = spec
        self.files = series_files(spec, roots)
        self.ids = ids
        self.start = start
        self.end = end
        self.stats = ReadStats(files=tuple(str(f) for f in self.files))

    def __iter__(self) -> Iterator[Message]:
        last = -(2**63)  # the last time of the earlier roots: a later root only extends the series
        for path in self.files:
            file_last = yield from self._read(path, last)
            if file_last is None:
                return
            last = file_last

    def _read(self, path: Path, last: int) -> Generator[Message, None, int | None]:
        """The messages of one file, row by row: the checks of :class:`FileScan` on the time, then the
        values, then the extension rule (rows at or before ``last`` are dropped) and the window; a
        message is built only for a row that is replayed. Returns the last time read, or None once a
        row reaches the end of the window (no later file is read)."""
        spec, ids, stats = self.spec, self.ids, self.stats
        build = BUILDERS[spec.kind]
        start = self.start if self.start is not None else -(2**63)
        end = self.end if self.end is not None else 2**63
        isfinite = math.isfinite
        file_last = last
        count = 0
        scan = FileScan(spec, path)
        rows = iter(scan)
        dated = _cells_parser(spec)
        try:
            for ts, row in rows:
                try:
                    cells = scan.values(row)
                    numbers = list(map(float, cells)) if dated is None else dated(cells)
                except ValueError:
                    raise _diagnose(path, scan.line, scan.columns, [row[i] for i in scan.picks]) from None
                if not isfinite(sum(numbers)) and not all(map(isfinite, numbers)):  # a nan or infinity
                    raise _diagnose(path, scan.line, scan.columns, [row[i] for i in scan.picks])
                if ts <= last:
                    stats.overlap += 1
                    continue
                file_last = ts
                if ts < start:
                    stats.before_start += 1
                    continue
                if ts >= end:
                    return None
                count += 1
                yield build(spec, ts, numbers, ids)
        finally:
            close_iterator(rows)
            stats.duplicates += scan.duplicates
            stats.messages += count
            stats.per_file[str(path)] = count
        return file_last


def read_series(
    spec: SeriesSpec,
    roots: Sequence[Path],
    ids: IdFactory,
    *,
    start: int | None = None,
    end: int | None = None,
) -> Iterator[Message]:
    """Shorthand for iterating a :class:`SeriesReader`."""
    return iter(SeriesReader(spec, roots, ids, start=start, end=end))
