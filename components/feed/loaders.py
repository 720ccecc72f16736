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

Each file is read once for its times: the coverage scan (:func:`file_times`) keeps them, and a reader of
the same file that follows takes the n-th time for its n-th row instead of parsing the time cells again
(:func:`scanned_times`; a file with duplicate times is read for them). Rows are split on their commas
unless a quote character asks for the csv module (:class:`CsvRows`). :func:`read_spans` reads only the
rows of a series inside some spans of time (the holes the gap rule fills), passing over the lines in
between without splitting them.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import math
from array import array
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
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


def _changed(path: Path, line: int, rows: int) -> MalformedRowError:
    return MalformedRowError(path, line, None, f"the file changed after its scan ({rows} rows then)")


READ_ERRORS = (OSError, EOFError, UnicodeDecodeError, csv.Error)
"""What reading a damaged file raises (reported as :class:`MalformedRowError` naming the line)."""


def close_iterator(iterator: Iterator[object]) -> None:
    """Close a generator left part-read now: a compiled (mypyc) generator does not when it is collected, so
    the files it reads would stay open."""
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


class CsvRows:
    """The rows of a CSV text as :func:`csv.reader` reads them, blank lines left out; :attr:`line_num` is
    the number of lines read so far.

    A line with no quote character is split on its commas: the same cells as the csv module's, at a
    fraction of the cost. A row whose first line has a quote character is read by the csv module (a
    quoted cell may hold commas and line breaks).
    """

    def __init__(self, handle: Iterable[str]) -> None:
        self.lines = iter(handle)
        self.line_num = 0

    def __iter__(self) -> Iterator[list[str]]:
        for text in self.lines:
            if '"' in text:
                row = self._quoted(text)
                if row:
                    yield row
                continue
            self.line_num += 1
            text = text.rstrip("\r\n")
            if text:
                yield text.split(",")

    def _quoted(self, text: str) -> list[str]:
        """The row that starts on the line ``text``, read by the csv module."""
        reader = csv.reader(chain((text,), self.lines))
        row = next(reader, [])
        self.line_num += reader.line_num
        return row

    def skip(self, count: int) -> None:
        """Pass over the next ``count`` lines unread: as many rows when none of them is blank or inside a
        quoted cell."""
        deque(islice(self.lines, count), maxlen=0)
        self.line_num += count


class FileScan:
    """The rows of one file with their message time, in file order, checked and de-duplicated.

    Iterating yields ``(time, row)``: the width and the time of every row are checked here (what the
    coverage scan needs, and what :class:`SeriesReader` builds on). Rows with the same time as the row
    above are dropped and counted in :attr:`duplicates`; :attr:`line` is the line last read and
    :attr:`picks` where the spec's columns are in a row and :attr:`values` the picker of its value cells
    (both set once the header is read).

    ``times``: the file's times as a scan found them (:func:`scanned_times`, no duplicate among them).
    The time cells are then not parsed again: the n-th row takes the n-th time.
    """

    def __init__(self, spec: SeriesSpec, path: Path, times: Sequence[int] | None = None) -> None:
        self.spec = spec
        self.path = path
        self.columns = columns_of(spec)
        self.known = times
        self.dated = _cells_parser(spec)
        self.duplicates = 0
        self.rows = CsvRows(())
        self.picks: list[int] = []
        self.values: Callable[[list[str]], Sequence[str]] = _no_values

    @property
    def line(self) -> int:
        """The line last read (1 before the header is read)."""
        return max(self.rows.line_num, 1)

    def times(self) -> Iterator[int]:
        """Only the times."""
        for ts, _ in self:
            yield ts

    def numbers(self, row: list[str]) -> list[float]:
        """The value cells of ``row`` as numbers, checked (:class:`MalformedRowError` names the first bad
        one)."""
        dated = self.dated
        try:
            cells = self.values(row)
            numbers = list(map(float, cells)) if dated is None else dated(cells)
        except ValueError:
            raise _diagnose(self.path, self.line, self.columns, [row[i] for i in self.picks]) from None
        if not all(map(math.isfinite, numbers)):
            raise _diagnose(self.path, self.line, self.columns, [row[i] for i in self.picks])
        return numbers

    def _open(self, handle: TextIO) -> tuple[CsvRows, Iterator[list[str]], int]:
        """The rows of ``handle`` past the header, their iterator and their width; sets :attr:`picks` and
        :attr:`values`."""
        rows = self.rows = CsvRows(handle)
        reader = iter(rows)
        width, self.picks = _header(self.path, reader, self.columns)
        self.values = _picker(self.picks[1:])
        return rows, reader, width

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        spec, path, columns, known = self.spec, self.path, self.columns, self.known
        ts_col = columns[0]
        unix_seconds = ts_col in UNIX_SECONDS_COLUMNS
        shift = (spec.interval_s or 0) * NS if spec.kind == "bar" else 0
        try:
            with open_text(path) as handle:
                rows, reader, width = self._open(handle)
                if known is not None:  # the times of the scan, in step with the rows
                    count = len(known)
                    n = 0
                    for row in reader:
                        if len(row) != width:
                            raise MalformedRowError(
                                path, rows.line_num, None, f"expected {width} fields, got {len(row)}"
                            )
                        if n == count:
                            raise _changed(path, rows.line_num, count)
                        yield known[n], row
                        n += 1
                    if n != count:
                        raise _changed(path, rows.line_num, count)
                    return
                ts_at = self.picks[0]
                previous = -(2**63)
                for row in reader:
                    if len(row) != width:
                        raise MalformedRowError(
                            path, rows.line_num, None, f"expected {width} fields, got {len(row)}"
                        )
                    text = row[ts_at]
                    try:
                        ts = (int(text) * NS if unix_seconds else _utc(text)) + shift
                    except ValueError:
                        ts = _time(path, rows.line_num, ts_col, text) + shift  # raises, naming the problem
                    if ts <= previous:
                        if ts == previous:
                            self.duplicates += 1
                            continue
                        raise NonMonotonicError(path, rows.line_num, iso(ts - shift), iso(previous - shift))
                    previous = ts
                    yield ts, row
        except READ_ERRORS as exc:
            raise _unreadable(path, self.line, exc) from None

    def picked(self, ranges: Sequence[tuple[int, int]]) -> Iterator[tuple[int, int, list[str]]]:
        """``(index, time, row)`` of the rows whose index (their place among the rows iterating yields) is
        in one of ``ranges`` (``[first, stop)`` each, in order, apart).

        With the scan's times the lines in between are passed over unread, each taken for one row; the
        time of every row picked checks that (a blank line or a quoted line break in between would shift
        the rows), and from a row that does not match on the rows are read in full.
        """
        if not ranges:
            return
        resume = 0
        if self.known is not None:
            resume = yield from self._picked_lines(ranges, self.known)
            if resume < 0:
                return
        span = 0
        first, stop = ranges[0]
        rows = iter(self)
        try:
            for index, (ts, row) in enumerate(rows):
                if index < resume:
                    continue
                while index >= stop:
                    span += 1
                    if span == len(ranges):
                        return
                    first, stop = ranges[span]
                if index >= first:
                    yield index, ts, row
        finally:
            close_iterator(rows)

    def _picked_lines(
        self, ranges: Sequence[tuple[int, int]], known: Sequence[int]
    ) -> Generator[tuple[int, int, list[str]], None, int]:
        """:meth:`picked` over lines; returns -1 when every row was picked, else the index of the first row
        whose time did not match (not yielded)."""
        path = self.path
        unix_seconds = self.columns[0] in UNIX_SECONDS_COLUMNS
        shift = (self.spec.interval_s or 0) * NS if self.spec.kind == "bar" else 0
        try:
            with open_text(path) as handle:
                rows, reader, width = self._open(handle)
                ts_at = self.picks[0]
                position = 0
                for first, stop in ranges:
                    if first > position:
                        rows.skip(first - position)
                        position = first
                    stop = min(stop, len(known))
                    while position < stop:
                        row = next(reader, None)
                        if row is None or len(row) != width:
                            return position
                        text = row[ts_at]
                        try:
                            ts = (int(text) * NS if unix_seconds else _utc(text)) + shift
                        except ValueError:
                            return position
                        if ts != known[position]:
                            return position
                        yield position, ts, row
                        position += 1
        except READ_ERRORS as exc:
            raise _unreadable(path, self.line, exc) from None
        return -1


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


_SCANS: dict[tuple[str, str, int, int, int], tuple[array[int], int]] = {}
"""The times of every file scanned, by path, kind, bar interval, modification time and size."""


def _scan_key(spec: SeriesSpec, path: Path) -> tuple[str, str, int, int, int]:
    stat = path.stat()
    return (str(path.resolve()), spec.kind, spec.interval_s or 0, stat.st_mtime_ns, stat.st_size)


def file_times(spec: SeriesSpec, path: Path) -> tuple[array[int], int]:
    """Message times of one file (checked, de-duplicated) and its duplicate count; cached, so a second
    scan of the same file is free."""
    key = _scan_key(spec, path)
    cached = _SCANS.get(key)
    if cached is None:
        scan = FileScan(spec, path)
        times = array("q", scan.times())
        cached = _SCANS[key] = (times, scan.duplicates)
    return cached


def scanned_times(spec: SeriesSpec, path: Path) -> array[int] | None:
    """The times of ``path`` when a scan has already read them and found no duplicate, else None: then
    the n-th row of the file has the n-th time (what :class:`FileScan` takes instead of parsing them)."""
    cached = _SCANS.get(_scan_key(spec, path))
    return cached[0] if cached is not None and cached[1] == 0 else None


def series_times(spec: SeriesSpec, roots: Sequence[Path]) -> tuple[array[int], tuple[str, ...], int]:
    """Times of the series over ``roots`` with the extension rule of the loaders (earlier root wins)."""
    files = series_files(spec, roots)
    times: array[int] = array("q")
    duplicates = 0
    for path in files:
        more, dups = file_times(spec, path)
        duplicates += dups
        if times:
            more = more[bisect.bisect_right(more, times[-1]) :]
        times.extend(more)
    return times, tuple(str(f) for f in files), duplicates


def clear_scans() -> None:
    """Forget the times of the files scanned."""
    _SCANS.clear()


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
        scan = FileScan(spec, path, scanned_times(spec, path))
        rows = iter(scan)
        dated = scan.dated
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


def read_spans(
    spec: SeriesSpec, roots: Sequence[Path], spans: Sequence[tuple[int, int]]
) -> Iterator[tuple[int, int, list[float]]]:
    """The rows of ``spec`` over ``roots`` (the extension rule of :class:`SeriesReader`) whose time is in
    one of ``spans`` (``[start, end)`` each, in time order, apart): ``(n, time, values)``, ``n`` counting
    the series' rows from the start of the first span (1 for the first), as the ids of a
    :class:`SeriesReader` over ``[spans[0] start, spans[-1] end)`` count its messages.

    Only these rows' values are parsed and checked, and reading stops at the end of the last span. With
    the times of a scan (:func:`scanned_times`) the rows in between are not even split into cells.
    """
    if not spans:
        return
    first, end = spans[0][0], spans[-1][1]
    n = 0  # rows counted so far
    last = -(2**63)  # the last time of the earlier roots
    for path in series_files(spec, roots):
        known = scanned_times(spec, path)
        scan = FileScan(spec, path, known)
        if known is None:  # every row is read for its time
            span = 0
            rows = iter(scan)
            try:
                for ts, row in rows:
                    if ts <= last:
                        continue
                    last = ts
                    if ts < first:
                        continue
                    if ts >= end:
                        return
                    n += 1
                    while ts >= spans[span][1]:
                        span += 1
                    if ts >= spans[span][0]:
                        yield n, ts, scan.numbers(row)
            finally:
                close_iterator(rows)
            continue
        if not known:
            continue
        # the rows of the file counted: after the earlier roots' and from the first span on
        begin = max(bisect.bisect_right(known, last), bisect.bisect_left(known, first))
        ranges = [
            (max(bisect.bisect_left(known, lo), begin), bisect.bisect_left(known, hi)) for lo, hi in spans
        ]
        picked = scan.picked([(a, b) for a, b in ranges if a < b])
        try:
            for index, ts, row in picked:
                yield n + index - begin + 1, ts, scan.numbers(row)
        finally:
            close_iterator(picked)
        n += max(len(known) - begin, 0)
        last = max(last, known[-1])
        if last >= end:
            return
