"""The catalogue built from the layout of the bundled data root."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from feedutil import ROOT, readme_rows, write_csv

from basis.components.feed import Catalogue, LayoutError, MissingSeriesError, discover, parse_name
from basis.components.feed.series import expected_paths, split_pair


def test_catalogue_holds_every_dated_series_of_the_bundled_root() -> None:
    catalogue = discover([ROOT])
    assert len(catalogue) == 28
    assert {s.kind for s in catalogue} == {"bar", "funding", "reserve", "oracle", "lst", "gas", "reward"}
    for name in (
        "bar:binance:BTCUSDT:perp",
        "bar:bybit:ETHUSDT:spot",
        "bar:okx:ETHUSDT:perp",
        "bar:uniswap_v3:WETHUSDT:dex",
        "bar:uniswap_v3:EIGENWETH:dex",
        "funding:okx:BTCUSDT",
        "reserve:aave_v3:weETH",
        "oracle:aave_v3:WETH",
        "lst:etherfi:weETH",
        "lst:lido:wstETH",
        "gas:ethereum:gwei",
        "reward:etherfi:EIGEN",
        "reward:etherfi:ETHFI",
    ):
        assert name in catalogue
    # every dated CSV of the README that basis replays is in the catalogue, and nothing else
    replayed = {p for p in readme_rows() if not p.startswith(("benchmarks/", "execution_costs/"))}
    replayed -= {"staking/etherfi_eeth_apy_daily.csv", "staking/etherfi_seasonal_airdrops_estimated.csv"}
    assert {s.path for s in catalogue} == replayed


def test_spec_fields_follow_the_layout() -> None:
    catalogue = discover([ROOT])
    perp = catalogue.get("bar:binance:BTCUSDT:perp")
    assert (perp.path, perp.market, perp.interval_s, perp.quote) == (
        "cex/binance/BTCUSDT_perp_1h.csv.gz",
        "perp",
        3600,
        "USDT",
    )
    eigen = catalogue.get("bar:uniswap_v3:EIGENWETH:dex")
    assert (eigen.path, eigen.quote) == ("tokens/eigen_weth_1h.csv.gz", "WETH")
    assert catalogue.get("funding:bybit:ETHUSDT").interval_s == 8 * 3600
    assert catalogue.get("reserve:aave_v3:USDT").interval_s == 86_400
    assert catalogue.get("oracle:aave_v3:USDT").quote == "USD"
    reward = catalogue.get("reward:etherfi:EIGEN")
    assert (reward.quote, reward.column, reward.interval_s, reward.regular) == (
        "eETH",
        "eigen_per_eeth_weekly",
        None,
        False,
    )
    assert catalogue.get("gas:ethereum:gwei").interval_s == 7200  # effective spacing of the sampled blocks


def test_names_parse_and_map_back_to_paths() -> None:
    assert parse_name("bar:binance:BTCUSDT:perp").market == "perp"
    assert parse_name("funding:okx:ETHUSDT").market is None
    for bad in ("bar:binance:BTCUSDT", "price:aave_v3:WETH", "funding::BTCUSDT", "x"):
        with pytest.raises(ValueError):
            parse_name(bad)
    catalogue = discover([ROOT])
    for spec in catalogue:
        assert spec.path in expected_paths(spec.name), spec.name
    assert split_pair("WETHUSDT") == ("WETH", "USDT")
    assert split_pair("EIGENWETH") == ("EIGEN", "WETH")


def test_missing_series_names_the_files_looked_for(tmp_path: Path) -> None:
    catalogue = discover([ROOT, tmp_path])
    with pytest.raises(MissingSeriesError) as caught:
        catalogue.get("bar:binance:ETHUSDT:spot")
    message = str(caught.value)
    assert str(ROOT / "cex/binance/ETHUSDT_spot_1h.csv.gz") in message
    assert str(tmp_path / "cex/binance/ETHUSDT_spot_1h.csv.gz") in message
    with pytest.raises(MissingSeriesError, match=re.escape("staking/lido_eigen_rewards.csv")):
        catalogue.select(["funding:binance:BTCUSDT", "reward:lido:EIGEN"])


def test_a_later_root_adds_series_and_bad_roots_fail(tmp_path: Path) -> None:
    write_csv(
        tmp_path,
        "cex/kraken/BTCUSDT_funding.csv",
        ("timestamp", "funding_rate"),
        [("2025-07-01T00:00:00Z", 0.0001)],
    )
    write_csv(tmp_path, "cex/kraken/notes.csv", ("a",), [(1,)])
    catalogue = discover([ROOT, tmp_path])
    assert isinstance(catalogue, Catalogue)
    assert len(catalogue) == 29
    assert catalogue.get("funding:kraken:BTCUSDT").path == "cex/kraken/BTCUSDT_funding.csv"
    with pytest.raises(LayoutError, match="not a folder"):
        discover([tmp_path / "nope"])
    with pytest.raises(LayoutError):
        discover([])


def test_series_by_the_path_a_venue_config_names(tmp_path: Path) -> None:
    catalogue = discover([ROOT, tmp_path])
    assert catalogue.for_path("cex/binance/BTCUSDT_funding.csv").name == "funding:binance:BTCUSDT"
    assert catalogue.for_path("aave_v3/oracle_weeth_eth_daily.csv").name == "lst:etherfi:weETH"
    with pytest.raises(MissingSeriesError) as caught:
        catalogue.for_path("cex/binance/ETHUSDT_spot_1h.csv.gz")
    assert str(tmp_path / "cex/binance/ETHUSDT_spot_1h.csv.gz") in str(caught.value)
    with pytest.raises(LayoutError, match="not a series file"):
        catalogue.for_path("staking/etherfi_eeth_apy_daily.csv")
