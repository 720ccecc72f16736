"""Several data roots: a later root extends an earlier one in time; on overlap the earlier root wins."""

from __future__ import annotations

from pathlib import Path

from feedutil import BAR_HEADER, ROOT, hours, write_csv

from basis.bus.ids import SequentialIds
from basis.bus.messages import Bar, FundingRate
from basis.components.feed import SeriesReader, coverage, discover, iso, parse_utc
from basis.components.feed.times import NS

FUNDING = "cex/binance/BTCUSDT_funding.csv"
HEADER = ("timestamp", "funding_rate")
T = hours("2024-01-01", 10, step=8)
LAST_BUNDLED_RATE = float((ROOT / FUNDING).read_text().splitlines()[-1].split(",")[1])


def rates(roots: list[Path]) -> tuple[list[tuple[str, float]], SeriesReader]:
    spec = discover(roots).get("funding:binance:BTCUSDT")
    reader = SeriesReader(spec, roots, SequentialIds("t", "feed"))
    return [(iso(m.ts), m.rate) for m in reader if isinstance(m, FundingRate)], reader


def test_later_root_appends_after_the_last_time_of_the_earlier(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_csv(a, FUNDING, HEADER, [(t, i + 1) for i, t in enumerate(T[:5])])
    write_csv(b, FUNDING, HEADER, [(t, 100 + i) for i, t in enumerate(T[3:8])])
    got, reader = rates([a, b])
    assert got == [
        (T[0], 1),
        (T[1], 2),
        (T[2], 3),
        (T[3], 4),
        (T[4], 5),
        (T[5], 102),
        (T[6], 103),
        (T[7], 104),
    ]
    assert reader.stats.overlap == 2
    assert reader.stats.per_file == {str(a / FUNDING): 5, str(b / FUNDING): 3}
    # the order of roots decides who wins
    got, _ = rates([b, a])
    assert got == [(t, 100 + i) for i, t in enumerate(T[3:8])]  # a adds nothing after b's last time


def test_a_later_root_cannot_backfill(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_csv(a, FUNDING, HEADER, [(t, 1) for t in T[4:6]])
    write_csv(b, FUNDING, HEADER, [(t, 2) for t in T[0:8]])
    got, reader = rates([a, b])
    assert got == [(T[4], 1), (T[5], 1), (T[6], 2), (T[7], 2)]
    assert reader.stats.overlap == 6


def test_series_only_in_a_later_root(tmp_path: Path) -> None:
    empty, later = tmp_path / "empty", tmp_path / "later"
    empty.mkdir()
    write_csv(later, FUNDING, HEADER, [(t, 1) for t in T[:3]])
    got, reader = rates([empty, later])
    assert [r for _, r in got] == [1, 1, 1]
    assert reader.stats.files == (str(later / FUNDING),)


def test_extending_the_bundled_root(tmp_path: Path) -> None:
    later = hours("2025-06-30", 6, start_hour=8, step=8)  # 06-30 08:00 and 16:00 overlap the bundled file
    write_csv(tmp_path, FUNDING, HEADER, [(t, 0.5) for t in later])
    got, reader = rates([ROOT, tmp_path])
    assert len(got) == 1641 + 4
    assert got[1640] == ("2025-06-30T16:00:00Z", LAST_BUNDLED_RATE)  # the earlier root wins
    assert [r for _, r in got[-4:]] == [0.5] * 4
    assert got[-4][0] == "2025-07-01T00:00:00Z"
    assert reader.stats.overlap == 2
    cov = coverage(discover([ROOT, tmp_path]).get("funding:binance:BTCUSDT"), [ROOT, tmp_path])
    assert (cov.rows, cov.gaps, cov.last) == (1645, (), parse_utc("2025-07-02T00:00:00Z"))


def test_extension_of_bars_and_the_gap_at_the_junction(tmp_path: Path) -> None:
    rel = "cex/bybit/ETHUSDT_perp_1h.csv.gz"
    a, b = tmp_path / "a", tmp_path / "b"
    first = hours("2024-01-01", 5)
    second = hours("2024-01-01", 5, start_hour=7)
    write_csv(a, rel, BAR_HEADER, [(t, 1, 1, 1, 1, 1) for t in first])
    write_csv(b, rel, BAR_HEADER, [(t, 2, 2, 2, 2, 2) for t in second])
    spec = discover([a, b]).get("bar:bybit:ETHUSDT:perp")
    bars = list(SeriesReader(spec, [a, b], SequentialIds("t", "feed")))
    assert [b.close for b in bars if isinstance(b, Bar)] == [1.0] * 5 + [2.0] * 5
    cov = coverage(spec, [a, b])
    assert len(cov.gaps) == 1
    gap = cov.gaps[0]
    assert (gap.start, gap.end, gap.missing) == (
        parse_utc("2024-01-01T05:00:00Z"),
        parse_utc("2024-01-01T08:00:00Z"),
        2,
    )
    assert cov.end == parse_utc("2024-01-01T12:00:00Z") + 3600 * NS
