"""Venues derived from each mode's flags, allocations and routing; aliases; overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from configutil import ConfigFiles

from basis.configs import (
    ConfigValidationError,
    UnknownNameError,
    load_mode,
    load_run_config,
    mode_aliases,
    parse_overrides,
    resolve_mode_name,
)

EXPECTED_VENUES = {
    "pure_lending_usdt": ("aave_v3", "alchemy"),
    "btc_basis": ("binance", "bybit", "okx", "alchemy"),
    "eth_basis": ("binance", "bybit", "okx", "alchemy"),
    "eth_staking_only": ("etherfi", "uniswap", "alchemy"),  # ether.fi's reward tokens are sold there
    "eth_leveraged": ("aave_v3", "etherfi", "morpho", "instadapp", "uniswap", "alchemy"),
    "usdt_eth_staking_hedged_simple": ("binance", "bybit", "okx", "etherfi", "uniswap", "alchemy"),
    "usdt_eth_staking_hedged_leveraged": (
        "binance",
        "bybit",
        "okx",
        "aave_v3",
        "etherfi",
        "morpho",
        "instadapp",
        "uniswap",
        "alchemy",
    ),
    "ml_btc_directional_usdt_margin": ("binance",),
    "ml_usdt_directional_usdt_margin": ("binance",),
}


@pytest.mark.parametrize(("name", "expected"), EXPECTED_VENUES.items())
def test_required_venues_of_each_mode(name: str, expected: tuple[str, ...]) -> None:
    assert load_mode(name).required_venues() == expected


def test_action_venue_map_of_the_leveraged_hedged_mode() -> None:
    assert load_mode("usdt_eth_staking_hedged_leveraged").action_venues() == {
        "hedge": {"binance": 0.4, "bybit": 0.3, "okx": 0.3},
        "spot": "binance",
        "lending": "aave_v3",
        "staking": "etherfi",
        "flash_loan": "morpho",
        "unwind": "instadapp",
        "wallet_transfer": "alchemy",
    }


def test_action_venue_map_of_an_ml_mode_is_empty() -> None:
    assert set(load_mode("ml_btc_directional_usdt_margin").action_venues().values()) == {None}


def test_zero_allocation_skips_a_hedge_venue() -> None:
    mode = load_mode("btc_basis", overrides={"hedge_allocation.okx": 0, "hedge_allocation.binance": 0.7})
    assert mode.required_venues() == ("binance", "bybit", "alchemy")
    assert mode.action_venues()["hedge"] == {"binance": 0.7, "bybit": 0.3}
    assert mode.hedge_venues == ["binance", "bybit", "okx"]


def test_staking_venue_follows_lst_type() -> None:
    mode = load_mode("eth_staking_only", overrides={"lst_type": "wstETH"})
    assert mode.required_venues() == ("lido", "alchemy")
    assert mode.venues.staking == "lido"


def test_leveraged_staking_with_lido_uses_the_same_flash_loan_venues() -> None:
    mode = load_mode("eth_leveraged", overrides={"lst_type": "wstETH"})
    assert mode.required_venues() == ("aave_v3", "lido", "morpho", "instadapp", "uniswap", "alchemy")
    assert mode.aave_risk_class == "emode"


def test_lending_with_borrowing_but_no_staking_uses_the_standard_risk_class() -> None:
    mode = load_mode(
        "pure_lending_usdt", overrides={"borrowing_enabled": True, "target_ltv": 0.5, "max_ltv": 0.6}
    )
    assert mode.aave_risk_class == "standard"
    assert mode.required_venues() == ("aave_v3", "alchemy")


def test_basis_hedges_default_to_the_documented_split(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("modes/btc_basis.yaml", "hedge_allocation", "hedge_venues")
    mode = load_mode("btc_basis", config_root)
    assert mode.hedge_allocation == {"binance": 0.4, "bybit": 0.3, "okx": 0.3}
    assert mode.hedge_venues == ["binance", "bybit", "okx"]


@pytest.mark.parametrize(
    ("alias", "target"),
    [
        ("usdt_market_neutral", "usdt_eth_staking_hedged_leveraged"),
        ("usdt_market_neutral_no_leverage", "usdt_eth_staking_hedged_simple"),
    ],
)
def test_old_names_load_the_hedged_modes(alias: str, target: str, no_secrets: None) -> None:
    assert resolve_mode_name(alias) == target
    assert load_mode(alias).name == target
    assert load_run_config(alias, "all-simulation").mode.name == target


def test_alias_table() -> None:
    assert mode_aliases() == {
        "usdt_market_neutral": "usdt_eth_staking_hedged_leveraged",
        "usdt_market_neutral_no_leverage": "usdt_eth_staking_hedged_simple",
    }


def test_unknown_mode_lists_the_known_names() -> None:
    with pytest.raises(UnknownNameError) as caught:
        load_mode("eth_yolo")
    assert str(caught.value) == (
        "configs/modes: no mode named 'eth_yolo'; known: btc_basis, eth_basis, eth_leveraged, eth_staking_only, "
        "ml_btc_directional_usdt_margin, ml_usdt_directional_usdt_margin, pure_lending_usdt, "
        "usdt_eth_staking_hedged_leveraged, usdt_eth_staking_hedged_simple, usdt_market_neutral, "
        "usdt_market_neutral_no_leverage"
    )


def test_unknown_environment_is_named() -> None:
    with pytest.raises(UnknownNameError) as caught:
        load_run_config("btc_basis", "staging")
    assert str(caught.value) == (
        "configs/environments: no environment named 'staging'; "
        "known: all-simulation, all-testnet, binance-testnet-aave-simulation, live"
    )


def test_parse_overrides_reads_values_as_yaml() -> None:
    assert parse_overrides(
        ["hedge_allocation.okx=0", "lst_type=wstETH", "market_neutral=false", "target_apy="]
    ) == {
        "hedge_allocation.okx": 0,
        "lst_type": "wstETH",
        "market_neutral": False,
        "target_apy": None,
    }


def test_an_override_without_equals_sign_is_rejected() -> None:
    with pytest.raises(ConfigValidationError) as caught:
        parse_overrides(["initial_capital"])
    assert str(caught.value) == "initial_capital: an override is written key=value"


def test_overrides_are_validated_like_the_file() -> None:
    with pytest.raises(ConfigValidationError) as caught:
        load_mode("btc_basis", overrides={"hedge_allocation.okx": 0.2})
    assert (
        str(caught.value)
        == "configs/modes/btc_basis.yaml (with overrides): hedge_allocation: must sum to 1, got 0.9"
    )


def test_an_override_cannot_descend_into_a_scalar() -> None:
    with pytest.raises(ConfigValidationError) as caught:
        load_mode("btc_basis", overrides={"asset.symbol": "BTC"})
    assert str(caught.value) == (
        "configs/modes/btc_basis.yaml (with overrides): asset.symbol: cannot set a key inside asset, "
        "which is not a mapping"
    )


def test_overridden_run_uses_the_new_capital(no_secrets: None) -> None:
    run = load_run_config("btc_basis", "all-simulation", overrides=parse_overrides(["initial_capital=2500"]))
    assert run.mode.initial_capital == 2500
