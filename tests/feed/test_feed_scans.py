"""Each file read once: the CSV rows split as the csv module splits them, the times of a scan taken by the
readers that follow it, and the spans of a series read without the rows in between."""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path

import pytest
from feedutil import BAR_HEADER, ROOT, hours, write_csv

from basis.bus.ids import SequentialIds
from basis.bus.messages import Bar
from basis.components.feed import MalformedRowError, SeriesReader, SeriesSpec, coverage, discover, read_spans
from basis.components.feed.coverage import clear_cache
from basis.components.feed.loaders import CsvRows, scanned_times
from basis.components.feed.times import NS, parse_utc

CATALOGUE = discover([ROOT])
PERP = "cex/binance/BTCUSDT_perp_1h.csv.gz"
FUNDING = "cex/binance/BTCUSDT_funding.csv"
H = 3600 * NS

TRICKY = (
    "timestamp,open,high\r\n"
    "2024-01-01T00:00:00Z,1,2\r\n"
    "\r\n"
    '2024-01-01T01:00:00Z,"1,5",2\n'
    "\n"
    '2024-01-01T02:00:00Z,"line\nbreak",3\r'
    '2024-01-01T03:00:00Z,a"b,4\n'
    "2024-01-01T04:00:00Z,,\n"
    "2024-01-01T05:00:00Z,5,6"
)


def test_csv_rows_are_the_csv_modules_without_the_blank_ones() -> None:
    ours = CsvRows(io.StringIO(TRICKY, newline=""))
    theirs = csv.reader(io.StringIO(TRICKY, newline=""))
    expected = [(row, theirs.line_num) for row in theirs if row]
    assert [(row, ours.line_num) for row in ours] == expected
    assert expected[2][0] == ["2024-01-01T01:00:00Z", "1,5", "2"]
    assert expected[3] == (["2024-01-01T02:00:00Z", "line\nbreak", "3"], 7)


def test_skipping_lines_counts_them() -> None:
    rows = CsvRows(io.StringIO(TRICKY, newline=""))
    reader = iter(rows)
    assert next(reader)[0] == "timestamp"
    rows.skip(3)
    assert (next(reader)[0], rows.line_num) == ("2024-01-01T02:00:00Z", 7)


def messages(name: str, roots: list[Path], **window: int) -> list[object]:
    spec = discover(roots).get(name)
    return list(SeriesReader(spec, roots, SequentialIds("t", "feed"), **window))


@pytest.mark.parametrize("name", ["bar:binance:BTCUSDT:perp", "gas:ethereum:gwei", "reward:etherfi:EIGEN"])
def test_a_reader_after_the_scan_takes_its_times(name: str) -> None:
    window = {"start": parse_utc("2024-11-01T00:00:00Z"), "end": parse_utc("2024-12-01T00:00:00Z")}
    clear_cache()
    spec = CATALOGUE.get(name)
    path = ROOT / spec.path
    assert scanned_times(spec, path) is None
    unscanned = messages(name, [ROOT], **window)
    coverage(spec, [ROOT])
    assert scanned_times(spec, path) is not None
    assert messages(name, [ROOT], **window) == unscanned and unscanned


def test_a_file_with_duplicate_times_is_read_for_them(tmp_path: Path) -> None:
    t = hours("2024-01-01", 3, step=8)
    write_csv(tmp_path, FUNDING, ("timestamp", "funding_rate"), [(t[0], 1), (t[1], 2), (t[1], 3), (t[2], 4)])
    spec = discover([tmp_path]).get("funding:binance:BTCUSDT")
    assert coverage(spec, [tmp_path]).duplicates == 1
    assert scanned_times(spec, tmp_path / FUNDING) is None
    assert [m.rate for m in messages("funding:binance:BTCUSDT", [tmp_path])] == [1.0, 2.0, 4.0]  # type: ignore[attr-defined]


def test_a_file_changed_after_its_scan_is_an_error(tmp_path: Path) -> None:
    t = hours("2024-01-01", 4, step=8)
    path = write_csv(tmp_path, FUNDING, ("timestamp", "funding_rate"), [(x, 0.1) for x in t])
    spec = discover([tmp_path]).get("funding:binance:BTCUSDT")
    coverage(spec, [tmp_path])
    stat = path.stat()
    text = path.read_text()
    last = text.splitlines(keepends=True)[-1]
    path.write_text(text[: -len(last)] + "\n" * len(last))  # one row fewer, the same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert scanned_times(spec, path) is not None
    with pytest.raises(MalformedRowError, match=r"funding.csv:[0-9]+: the file changed after its scan"):
        messages("funding:binance:BTCUSDT", [tmp_path])


def spans_read_in_full(
    spec: SeriesSpec, roots: list[Path], spans: list[tuple[int, int]]
) -> list[tuple[int, int, list[float]]]:
    """What :func:`read_spans` gives, from a reader over the whole span: every row numbered."""
    reader = SeriesReader(spec, roots, SequentialIds("", "r"), start=spans[0][0], end=spans[-1][1])
    return [
        (n, bar.ts, [bar.open, bar.high, bar.low, bar.close, bar.volume])
        for n, bar in enumerate(reader, 1)
        if isinstance(bar, Bar) and any(lo <= bar.ts < hi for lo, hi in spans)
    ]


@pytest.mark.parametrize("scanned", [True, False], ids=["scanned", "not scanned"])
def test_the_spans_of_a_series_are_its_rows_there(scanned: bool) -> None:
    holes = coverage(CATALOGUE.get("bar:binance:BTCUSDT:spot"), [ROOT]).gaps
    spans = [(hole.start, hole.end) for hole in holes]
    spec = CATALOGUE.get("bar:bybit:BTCUSDT:spot")
    clear_cache()
    if scanned:
        coverage(spec, [ROOT])
    got = list(read_spans(spec, [ROOT], spans))
    assert got == spans_read_in_full(spec, [ROOT], spans)
    assert len(got) == sum(hole.missing + 1 for hole in holes)
    assert (scanned_times(spec, ROOT / spec.path) is not None) == scanned


def test_spans_past_blank_and_quoted_lines(tmp_path: Path) -> None:
    t = hours("2024-01-01", 40)
    rows = [f"{x},{i},{i + 1},{i - 1},{i}.5,10" for i, x in enumerate(t)]
    rows[5] = ""  # a blank line: the rows below it are one line further down
    rows[12] = f'{t[12]},"12",13,11,"12.5",10'
    rows[20] = f'{t[20]},20,21,19,20.5,"10\n"'  # a quoted line break
    path = tmp_path / PERP
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(",".join(BAR_HEADER) + "\n" + "\n".join(rows) + "\n")
    spec = discover([tmp_path]).get("bar:binance:BTCUSDT:perp")
    coverage(spec, [tmp_path])
    assert scanned_times(spec, path) is not None
    spans = [(parse_utc(t[2]) + H, parse_utc(t[4]) + H), (parse_utc(t[9]) + H, parse_utc(t[30]) + H)]
    got = list(read_spans(spec, [tmp_path], spans))
    assert got == spans_read_in_full(spec, [tmp_path], spans)
    assert [n for n, _, _ in got][:3] == [1, 2, 7]  # the blank line is no row


def test_spans_over_two_roots(tmp_path: Path) -> None:
    rel = "cex/bybit/ETHUSDT_perp_1h.csv.gz"
    a, b = tmp_path / "a", tmp_path / "b"
    write_csv(a, rel, BAR_HEADER, [(x, 1, 1, 1, 1, 1) for x in hours("2024-01-01", 10)])
    write_csv(b, rel, BAR_HEADER, [(x, 2, 2, 2, 2, 2) for x in hours("2024-01-01", 10, start_hour=6)])
    spec = discover([a, b]).get("bar:bybit:ETHUSDT:perp")
    spans = [
        (parse_utc("2024-01-01T03:00:00Z"), parse_utc("2024-01-01T05:00:00Z")),
        (parse_utc("2024-01-01T09:00:00Z"), parse_utc("2024-01-01T14:00:00Z")),
    ]  # bar times: a's close 01:00 to 10:00, b's extend them from 11:00 to 16:00
    for scan in (False, True):
        if scan:
            coverage(spec, [a, b])
        got = list(read_spans(spec, [a, b], spans))
        assert got == spans_read_in_full(spec, [a, b], spans)
        numbered = [(n, v[0]) for n, _, v in got]
        assert numbered == [(1, 1.0), (2, 1.0), (7, 1.0), (8, 1.0), (9, 2.0), (10, 2.0), (11, 2.0)]
