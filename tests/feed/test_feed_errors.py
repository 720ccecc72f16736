"""Errors of the data layer name the file, the line and the column."""

from __future__ import annotations

from pathlib import Path

import pytest
from feedutil import BAR_HEADER, ROOT, hours, write_csv

from basis.bus.ids import SequentialIds
from basis.bus.messages import FundingRate
from basis.components.feed import (
    DataError,
    MalformedRowError,
    MissingSeriesError,
    NonMonotonicError,
    SeriesReader,
    discover,
)

FUNDING = "cex/binance/BTCUSDT_funding.csv"
PERP = "cex/binance/BTCUSDT_perp_1h.csv.gz"
PERP_RE = r".*cex/binance/BTCUSDT_perp_1h\.csv\.gz"


def read_all(root: Path, name: str) -> list:  # type: ignore[type-arg]
    spec = discover([root]).get(name)
    return list(SeriesReader(spec, [root], SequentialIds("t", "feed")))


def funding_root(
    tmp_path: Path, rows: list[tuple[object, ...]], header: tuple[str, ...] = ("timestamp", "funding_rate")
) -> Path:
    write_csv(tmp_path, FUNDING, header, rows)
    return tmp_path


def test_every_error_is_a_data_error() -> None:
    for cls in (MalformedRowError, MissingSeriesError, NonMonotonicError):
        assert issubclass(cls, DataError)


def test_missing_file_for_a_known_series_names_every_root(tmp_path: Path) -> None:
    spec = discover([ROOT]).get("bar:okx:ETHUSDT:perp")
    with pytest.raises(MissingSeriesError) as caught:
        SeriesReader(spec, [tmp_path / "a", tmp_path / "b"], SequentialIds("t", "feed"))
    assert str(tmp_path / "a" / "cex/okx/ETHUSDT_perp_1h.csv.gz") in str(caught.value)
    assert str(tmp_path / "b" / "cex/okx/ETHUSDT_perp_1h.csv.gz") in str(caught.value)


def test_bad_number_names_file_line_and_column(tmp_path: Path) -> None:
    t = hours("2024-01-01", 4, step=8)
    root = funding_root(tmp_path, [(t[0], 0.0001), (t[1], 0.0002), (t[2], "abc"), (t[3], 0.0001)])
    with pytest.raises(MalformedRowError) as caught:
        read_all(root, "funding:binance:BTCUSDT")
    error = caught.value
    assert (error.path, error.line, error.column) == (str(root / FUNDING), 4, "funding_rate")
    assert str(error).startswith(f"{root / FUNDING}:4: column 'funding_rate': 'abc' is not a number")
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("row", "column", "problem"),
    [
        (("yesterday", 0.0001), "timestamp", "not an ISO-8601 time"),
        (("2024-01-01 08:00", 0.0001), "timestamp", "has no UTC offset"),
        (("2024-02-30T00:00:00Z", 0.0001), "timestamp", "not a valid date"),
        (("", 0.0001), "timestamp", "empty value"),
        (("2024-01-01T08:00:00Z", ""), "funding_rate", "empty value"),
        (("2024-01-01T08:00:00Z", "nan"), "funding_rate", "not a number"),
        (("2024-01-01T08:00:00+02:00", 0.0001), "timestamp", "is not UTC"),
    ],
)
def test_malformed_values(tmp_path: Path, row: tuple[object, ...], column: str, problem: str) -> None:
    root = funding_root(tmp_path, [("2024-01-01T00:00:00Z", 0.0001), row])
    with pytest.raises(MalformedRowError, match=problem) as caught:
        read_all(root, "funding:binance:BTCUSDT")
    assert (caught.value.line, caught.value.column) == (3, column)


def test_wrong_field_count_and_missing_column(tmp_path: Path) -> None:
    root = funding_root(tmp_path, [("2024-01-01T00:00:00Z", 0.0001), ("2024-01-01T08:00:00Z", 0.0001, 7)])
    with pytest.raises(MalformedRowError, match=r"funding.csv:3: expected 2 fields, got 3"):
        read_all(root, "funding:binance:BTCUSDT")
    root = funding_root(tmp_path, [("2024-01-01T00:00:00Z", 0.0001)], header=("timestamp", "rate"))
    with pytest.raises(MalformedRowError, match=r"funding.csv:1: column 'funding_rate': missing column"):
        read_all(root, "funding:binance:BTCUSDT")
    (tmp_path / FUNDING).write_text("")
    with pytest.raises(MalformedRowError, match="empty file"):
        read_all(root, "funding:binance:BTCUSDT")


def test_malformed_row_in_a_gzip_bar_file(tmp_path: Path) -> None:
    t = hours("2024-01-01", 3)
    write_csv(
        tmp_path,
        PERP,
        BAR_HEADER,
        [(t[0], 1, 2, 0.5, 1.5, 10), (t[1], 1, 2, 0.5, 1.5, 10), (t[2], 1, "x", 0.5, 1.5, 10)],
    )
    with pytest.raises(MalformedRowError) as caught:
        read_all(tmp_path, "bar:binance:BTCUSDT:perp")
    assert (caught.value.path, caught.value.line, caught.value.column) == (str(tmp_path / PERP), 4, "high")


def test_time_going_back_names_file_and_line(tmp_path: Path) -> None:
    t = hours("2024-01-01", 4, step=8)
    root = funding_root(tmp_path, [(t[0], 0.1), (t[2], 0.1), (t[1], 0.1), (t[3], 0.1)])
    with pytest.raises(NonMonotonicError) as caught:
        read_all(root, "funding:binance:BTCUSDT")
    assert caught.value.line == 4
    assert str(caught.value) == (
        f"{root / FUNDING}:4: time 2024-01-01T08:00:00Z is before the previous row's time 2024-01-01T16:00:00Z"
    )


def test_duplicate_times_are_dropped_and_counted(tmp_path: Path) -> None:
    t = hours("2024-01-01", 3, step=8)
    root = funding_root(tmp_path, [(t[0], 0.1), (t[1], 0.2), (t[1], 0.2), (t[1], 0.3), (t[2], 0.4)])
    spec = discover([root]).get("funding:binance:BTCUSDT")
    reader = SeriesReader(spec, [root], SequentialIds("t", "feed"))
    assert [m.rate for m in reader if isinstance(m, FundingRate)] == [0.1, 0.2, 0.4]
    assert reader.stats.duplicates == 2


def test_a_damaged_gzip_file_is_a_malformed_file(tmp_path: Path) -> None:
    t = hours("2024-01-01", 200)
    path = write_csv(tmp_path, PERP, BAR_HEADER, [(x, 1, 2, 0.5, 1.5, 10) for x in t])
    path.write_bytes(path.read_bytes()[:-200])  # truncated
    with pytest.raises(MalformedRowError, match=f"^{PERP_RE}:[0-9]+: cannot read the file"):
        read_all(tmp_path, "bar:binance:BTCUSDT:perp")
    path.write_bytes(b"not gzip at all")
    with pytest.raises(MalformedRowError, match="cannot read the file"):
        read_all(tmp_path, "bar:binance:BTCUSDT:perp")
