"""Synthetic gas prices: the bundled gas layout, read by the ordinary loaders."""

from __future__ import annotations

from pathlib import Path

from basis.bus.ids import SequentialIds
from basis.bus.messages import GasPrice
from basis.components.feed import SeriesReader, coverages, parse_utc
from basis.components.feed.synthetic import write_synthetic_gas

START, END = parse_utc("2024-01-01T00:00:00Z"), parse_utc("2024-01-03T00:00:00Z")


def test_gas_file_is_read_by_the_loaders_and_is_deterministic(tmp_path: Path) -> None:
    catalogue = write_synthetic_gas(tmp_path / "a", start=START, end=END, seed=3)
    spec = catalogue.get("gas:ethereum:gwei")
    assert spec.path == "gas/ethereum_gas_1h.csv.gz"
    prices = list(SeriesReader(spec, [tmp_path / "a"], SequentialIds("t", "feed")))
    assert len(prices) == 48 and all(isinstance(p, GasPrice) for p in prices)
    assert [p.ts for p in prices[:2]] == [START - 61 * 10**9, START + 3_539 * 10**9]
    assert all(p.price_gwei == p.base_fee_gwei + p.priority_fee_gwei > 0 for p in prices)
    assert coverages(catalogue, [tmp_path / "a"])[0].gaps == ()
    write_synthetic_gas(tmp_path / "b", start=START, end=END, seed=3)
    path = "gas/ethereum_gas_1h.csv.gz"
    assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
