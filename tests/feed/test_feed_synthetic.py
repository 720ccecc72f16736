"""Synthetic benchmark data: same layout, read by the same loaders, byte-identical for a seed."""

from __future__ import annotations

from pathlib import Path

from basis.bus.ids import SequentialIds
from basis.bus.messages import Bar
from basis.components.feed import SeriesReader, common_window, coverages, parse_utc
from basis.components.feed.synthetic import BUNDLED_END, BUNDLED_START, benchmark_window, write_synthetic

START, END = parse_utc("2024-01-01T00:00:00Z"), parse_utc("2024-01-03T00:00:00Z")


def test_synthetic_root_is_read_by_the_loaders(tmp_path: Path) -> None:
    catalogue = write_synthetic(tmp_path, start=START, end=END, seed=11)
    assert catalogue.names == (
        "bar:binance:BTCUSDT:perp",
        "bar:binance:BTCUSDT:spot",
        "bar:binance:ETHUSDT:perp",
        "bar:binance:ETHUSDT:spot",
        "funding:binance:BTCUSDT",
        "funding:binance:ETHUSDT",
    )
    spot = catalogue.get("bar:binance:BTCUSDT:spot")
    assert (spot.path, spot.interval_s) == ("cex/binance/BTCUSDT_spot_1m.csv.gz", 60)
    bars = [b for b in SeriesReader(spot, [tmp_path], SequentialIds("t", "feed")) if isinstance(b, Bar)]
    assert len(bars) == 2 * 1440
    assert bars[0].ts == START + 60 * 10**9 and bars[-1].ts == END
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)
    funding = list(
        SeriesReader(catalogue.get("funding:binance:BTCUSDT"), [tmp_path], SequentialIds("t", "feed"))
    )
    assert [f.ts for f in funding] == [START + i * 8 * 3600 * 10**9 for i in range(6)]
    covs = coverages(catalogue, [tmp_path])
    assert all(c.gaps == () for c in covs)
    assert common_window(covs) == (START + 60 * 10**9, END)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    write_synthetic(tmp_path / "a", start=START, end=START + 86_400 * 10**9, seed=5)
    write_synthetic(tmp_path / "b", start=START, end=START + 86_400 * 10**9, seed=5)
    write_synthetic(tmp_path / "c", start=START, end=START + 86_400 * 10**9, seed=6)
    rel = "cex/binance/ETHUSDT_perp_1m.csv.gz"
    import gzip

    def text(root: Path) -> str:
        return gzip.decompress((root / rel).read_bytes()).decode()

    assert text(tmp_path / "a") == text(tmp_path / "b") != text(tmp_path / "c")


def test_benchmark_window_is_ten_times_the_bundled_span() -> None:
    start, end = benchmark_window()
    assert start == BUNDLED_START and end - start == 10 * (BUNDLED_END - BUNDLED_START)
