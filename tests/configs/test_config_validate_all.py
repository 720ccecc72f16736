"""``validate_all``: every file checked, problems reported as (file, error) pairs."""

from __future__ import annotations

from pathlib import Path

from configutil import ConfigFiles

from basis.configs import (
    ConfigConsistencyError,
    ConfigFileError,
    ConfigValidationError,
    validate_all,
)


def lines(root: Path) -> list[str]:
    return [str(error) for _file, error in validate_all(root)]


def test_a_clean_copy_validates(config_root: Path) -> None:
    assert validate_all(config_root) == []


def test_each_broken_file_is_reported_once_with_its_name(
    config_files: ConfigFiles, config_root: Path
) -> None:
    config_files.set("modes/btc_basis.yaml", {"hedge_allocation.okx": 0.2})
    config_files.set("venues/binance.yaml", {"margin.maintenance": 0.1})
    problems = validate_all(config_root)
    assert [(file, type(error)) for file, error in problems] == [
        ("configs/modes/btc_basis.yaml", ConfigValidationError),
        ("configs/venues/binance.yaml", ConfigValidationError),
    ]
    assert [str(error) for _file, error in problems] == [
        "configs/modes/btc_basis.yaml: hedge_allocation: must sum to 1, got 0.9",
        "configs/venues/binance.yaml: margin.maintenance: must be below margin.initial (0.05), got 0.1",
    ]


def test_cross_file_limits_are_checked(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.set("modes/usdt_eth_staking_hedged_leveraged.yaml", {"max_ltv": 0.96})
    problems = validate_all(config_root)
    assert [type(error) for _file, error in problems] == [ConfigConsistencyError]
    assert lines(config_root) == [
        (
            "configs/modes/usdt_eth_staking_hedged_leveraged.yaml: max_ltv: must be below the liquidation "
            "threshold of the emode class of aave_v3 (0.95), got 0.96"
        )
    ]


def test_environment_sections_are_checked(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("venues/instadapp.yaml", "environments.live")
    assert lines(config_root) == [
        "configs/environments/live.yaml: venues.instadapp: instadapp does not define the live environment"
    ]


def test_proxies_are_checked(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("venues/bybit.yaml", "environments.simulation.series.ETHUSDT_spot")
    config_files.delete("venues/bybit.yaml", "markets.spot.ETHUSDT")
    assert lines(config_root) == [
        (
            "configs/venues/binance.yaml: environments.simulation.proxies.ETHUSDT_spot.series: "
            "bybit has no simulation series ETHUSDT_spot"
        ),
        (
            "configs/venues/okx.yaml: environments.simulation.proxies.ETHUSDT_spot.series: "
            "bybit has no simulation series ETHUSDT_spot"
        ),
    ]


def test_alias_collisions(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.set("modes/btc_basis.yaml", {"aliases": ["usdt_market_neutral"]})
    config_files.set("modes/eth_basis.yaml", {"aliases": ["btc_basis"]})
    assert lines(config_root) == [
        "configs/modes/eth_basis.yaml: aliases: btc_basis is the name of a mode",
        (
            "configs/modes/usdt_eth_staking_hedged_leveraged.yaml: aliases: usdt_market_neutral is also an alias "
            "of btc_basis"
        ),
    ]


def test_missing_share_class_is_reported_on_the_mode(config_files: ConfigFiles, config_root: Path) -> None:
    (config_root / "share_classes/BTC.yaml").unlink()
    assert lines(config_root) == [
        "configs/modes/ml_btc_directional_usdt_margin.yaml: share_class: no share class 'BTC'"
    ]


def test_stray_files_are_reported(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.write("modes/btc_basis_copy.yml", "asset: BTC\n")
    config_files.write("strategies/new.yaml", "asset: BTC\n")
    problems = validate_all(config_root)
    assert [type(error) for _file, error in problems] == [ConfigFileError, ConfigFileError]
    assert lines(config_root) == [
        "configs/modes/btc_basis_copy.yml: not read: configuration files end in .yaml",
        (
            "configs/strategies/new.yaml: not read: configuration files belong in modes, venues, share_classes, "
            "environments"
        ),
    ]


def test_unparsable_file(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.write("share_classes/ETH.yaml", "base_asset: ETH\n  decimals: 18\n")
    assert lines(config_root) == [
        "configs/share_classes/ETH.yaml: line 2: mapping values are not allowed here"
    ]
