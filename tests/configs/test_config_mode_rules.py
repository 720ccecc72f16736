"""One test per rule of a mode file; each asserts the exact message, naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from configutil import ConfigFiles

from basis.configs import (
    ConfigConsistencyError,
    ConfigError,
    ConfigFileError,
    ConfigValidationError,
    load_mode,
    load_run_config,
)


def mode_error(root: Path, name: str, error_type: type[ConfigError] = ConfigValidationError) -> str:
    with pytest.raises(error_type) as caught:
        load_mode(name, root)
    return str(caught.value)


def run_error(root: Path, name: str, env: str = "all-simulation") -> str:
    with pytest.raises(ConfigConsistencyError) as caught:
        load_run_config(name, env, root=root)
    return str(caught.value)


def edit_and_fail(files: ConfigFiles, root: Path, name: str, changes: dict[str, Any]) -> str:
    files.set(f"modes/{name}.yaml", changes)
    return mode_error(root, name)


# --- allocations --------------------------------------------------------------------------------


def test_hedge_allocation_must_sum_to_one(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "btc_basis", {"hedge_allocation.okx": 0.2})
    assert message == "configs/modes/btc_basis.yaml: hedge_allocation: must sum to 1, got 0.9"


def test_hedge_allocation_within_tolerance_is_accepted(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.set("modes/btc_basis.yaml", {"hedge_allocation.okx": 0.3 + 5e-10})
    assert load_mode("btc_basis", config_root).hedge_allocation["okx"] == pytest.approx(0.3)


def test_hedge_allocation_shares_are_fractions(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(
        config_files,
        config_root,
        "btc_basis",
        {"hedge_allocation.okx": -0.1, "hedge_allocation.binance": 0.8},
    )
    assert message == "configs/modes/btc_basis.yaml: hedge_allocation.okx: must be >= 0, got -0.1"


def test_hedges_go_to_exchanges_only(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("modes/btc_basis.yaml", "hedge_allocation.okx")
    message = edit_and_fail(config_files, config_root, "btc_basis", {"hedge_allocation.aave_v3": 0.3})
    assert message == (
        "configs/modes/btc_basis.yaml: hedge_allocation.aave_v3: must be 'binance', 'bybit' or 'okx', got 'aave_v3'"
    )


def test_hedge_venues_must_match_the_allocation(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "btc_basis", {"hedge_venues": ["binance", "bybit"]})
    assert message == (
        "configs/modes/btc_basis.yaml: hedge_venues: must list the venues of hedge_allocation "
        "(binance, bybit, okx), got binance, bybit"
    )


def test_no_hedges_without_the_basis_trade(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(
        config_files, config_root, "pure_lending_usdt", {"hedge_allocation": {"binance": 1.0}}
    )
    assert message == (
        "configs/modes/pure_lending_usdt.yaml: hedge_allocation: must be empty when basis_trade_enabled is false"
    )


def test_stake_allocation_required_for_hedged_staking(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("modes/usdt_eth_staking_hedged_simple.yaml", "stake_allocation_percentage")
    assert mode_error(config_root, "usdt_eth_staking_hedged_simple") == (
        "configs/modes/usdt_eth_staking_hedged_simple.yaml: stake_allocation_percentage: "
        "required when staking_enabled and basis_trade_enabled are true"
    )


def test_stake_allocation_only_for_hedged_staking(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(
        config_files, config_root, "eth_staking_only", {"stake_allocation_percentage": 0.5}
    )
    assert message == (
        "configs/modes/eth_staking_only.yaml: stake_allocation_percentage: "
        "must be null unless staking_enabled and basis_trade_enabled are true"
    )


def test_stake_allocation_is_strictly_between_zero_and_one(
    config_files: ConfigFiles, config_root: Path
) -> None:
    message = edit_and_fail(
        config_files, config_root, "usdt_eth_staking_hedged_simple", {"stake_allocation_percentage": 1.0}
    )
    assert message == (
        "configs/modes/usdt_eth_staking_hedged_simple.yaml: stake_allocation_percentage: must be < 1, got 1"
    )


# --- staking ------------------------------------------------------------------------------------


def test_lst_type_must_be_weeth_or_wsteth(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "eth_staking_only", {"lst_type": "stETH"})
    assert (
        message == "configs/modes/eth_staking_only.yaml: lst_type: must be 'weETH' or 'wstETH', got 'stETH'"
    )


def test_lst_type_required_when_staking(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("modes/eth_staking_only.yaml", "lst_type")
    assert mode_error(config_root, "eth_staking_only") == (
        "configs/modes/eth_staking_only.yaml: lst_type: required when staking_enabled is true"
    )


def test_lst_type_only_when_staking(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "btc_basis", {"lst_type": "weETH"})
    assert message == "configs/modes/btc_basis.yaml: lst_type: must be null when staking_enabled is false"


def test_staking_venue_must_issue_the_lst(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "eth_staking_only", {"venues.staking": "lido"})
    assert (
        message
        == "configs/modes/eth_staking_only.yaml: venues.staking: must be etherfi for lst_type weETH, got lido"
    )


# --- leverage -----------------------------------------------------------------------------------


def test_borrowing_requires_lending(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "eth_leveraged", {"lending_enabled": False})
    assert message == (
        "configs/modes/eth_leveraged.yaml: borrowing_enabled: requires lending_enabled (collateral is supplied first)"
    )


def test_ltv_required_when_borrowing(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("modes/eth_leveraged.yaml", "target_ltv", "max_ltv")
    assert mode_error(config_root, "eth_leveraged") == (
        "configs/modes/eth_leveraged.yaml: target_ltv: required when borrowing_enabled is true\n"
        "configs/modes/eth_leveraged.yaml: max_ltv: required when borrowing_enabled is true"
    )


def test_ltv_only_when_borrowing(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(
        config_files, config_root, "eth_staking_only", {"target_ltv": 0.5, "max_ltv": 0.6}
    )
    assert message == (
        "configs/modes/eth_staking_only.yaml: target_ltv: must be null when borrowing_enabled is false\n"
        "configs/modes/eth_staking_only.yaml: max_ltv: must be null when borrowing_enabled is false"
    )


def test_target_ltv_below_max_ltv(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "eth_leveraged", {"target_ltv": 0.86})
    assert message == "configs/modes/eth_leveraged.yaml: target_ltv: must be below max_ltv (0.85), got 0.86"


def test_max_ltv_below_the_emode_liquidation_threshold(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.set("modes/eth_leveraged.yaml", {"max_ltv": 0.96})
    assert run_error(config_root, "eth_leveraged") == (
        "configs/modes/eth_leveraged.yaml: max_ltv: must be below the liquidation threshold of the emode class "
        "of aave_v3 (0.95), got 0.96"
    )


def test_max_ltv_below_the_standard_threshold_without_staking(
    config_files: ConfigFiles, config_root: Path
) -> None:
    config_files.set(
        "modes/pure_lending_usdt.yaml", {"borrowing_enabled": True, "target_ltv": 0.6, "max_ltv": 0.86}
    )
    assert run_error(config_root, "pure_lending_usdt") == (
        "configs/modes/pure_lending_usdt.yaml: max_ltv: must be below the liquidation threshold of the standard "
        "class of aave_v3 (0.85), got 0.86"
    )


def test_liquidation_threshold_comes_from_the_venue_file(
    config_files: ConfigFiles, config_root: Path
) -> None:
    config_files.set("venues/aave_v3.yaml", {"risk_params.emode.liquidation_threshold": 0.84})
    config_files.set("venues/aave_v3.yaml", {"risk_params.emode.ltv": 0.83})
    assert run_error(config_root, "eth_leveraged") == (
        "configs/modes/eth_leveraged.yaml: max_ltv: must be below the liquidation threshold of the emode class "
        "of aave_v3 (0.84), got 0.85\n"
        "configs/modes/eth_leveraged.yaml: target_ltv: gives health factor 1.05 with the emode class of aave_v3, "
        "not above risk.health_factor_warning (1.15)"
    )


def test_max_ltv_keeps_the_health_factor_above_critical(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.set("modes/eth_leveraged.yaml", {"max_ltv": 0.87})
    assert run_error(config_root, "eth_leveraged") == (
        "configs/modes/eth_leveraged.yaml: max_ltv: gives health factor 1.092 with the emode class of aave_v3, "
        "not above risk.health_factor_critical (1.1)"
    )


def test_target_ltv_keeps_the_health_factor_above_warning(
    config_files: ConfigFiles, config_root: Path
) -> None:
    config_files.set("modes/eth_leveraged.yaml", {"target_ltv": 0.83})
    assert run_error(config_root, "eth_leveraged") == (
        "configs/modes/eth_leveraged.yaml: target_ltv: gives health factor 1.145 with the emode class of aave_v3, "
        "not above risk.health_factor_warning (1.15)"
    )


def test_target_ltv_within_the_ltv_limit(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.set(
        "modes/eth_leveraged.yaml",
        {
            "target_ltv": 0.935,
            "max_ltv": 0.94,
            "risk.health_factor_warning": 1.005,
            "risk.health_factor_critical": 1.001,
        },
    )
    assert run_error(config_root, "eth_leveraged") == (
        "configs/modes/eth_leveraged.yaml: target_ltv: must not exceed the LTV limit of the emode class of "
        "aave_v3 (0.93), got 0.935"
    )


# --- routing ------------------------------------------------------------------------------------


def test_spot_venue_required_for_the_basis_trade(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("modes/btc_basis.yaml", "venues.spot")
    assert mode_error(config_root, "btc_basis") == (
        "configs/modes/btc_basis.yaml: venues.spot: required when basis_trade_enabled is true"
    )


def test_unused_action_venue_must_be_null(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "pure_lending_usdt", {"venues.flash_loan": "morpho"})
    assert message == (
        "configs/modes/pure_lending_usdt.yaml: venues.flash_loan: "
        "must be null when borrowing_enabled and staking_enabled are not both true"
    )


def test_flash_loan_venue_required_for_leveraged_staking(
    config_files: ConfigFiles, config_root: Path
) -> None:
    config_files.delete("modes/eth_leveraged.yaml", "venues.flash_loan")
    assert mode_error(config_root, "eth_leveraged") == (
        "configs/modes/eth_leveraged.yaml: venues.flash_loan: required when borrowing_enabled and "
        "staking_enabled are true"
    )


def test_wallet_transfer_venue_required_on_chain(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("modes/pure_lending_usdt.yaml", "venues.wallet_transfer")
    assert mode_error(config_root, "pure_lending_usdt") == (
        "configs/modes/pure_lending_usdt.yaml: venues.wallet_transfer: required when the mode acts on-chain"
    )


def test_action_venue_of_the_wrong_kind(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "pure_lending_usdt", {"venues.lending": "morpho"})
    assert message == "configs/modes/pure_lending_usdt.yaml: venues.lending: must be 'aave_v3', got 'morpho'"


def test_hedge_venue_must_list_the_perp(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("venues/okx.yaml", "markets.perp.ETHUSDT")
    assert run_error(config_root, "eth_basis") == (
        "configs/modes/eth_basis.yaml: hedge_allocation.okx: okx has no perp market ETHUSDT"
    )


def test_spot_venue_must_list_the_spot_market(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("venues/binance.yaml", "markets.spot.BTCUSDT")
    assert run_error(config_root, "btc_basis") == (
        "configs/modes/btc_basis.yaml: venues.spot: binance has no spot market BTCUSDT"
    )


# --- risk ---------------------------------------------------------------------------------------


def test_margin_warning_above_critical(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "btc_basis", {"risk": {"margin_ratio_warning": 0.15}})
    assert message == (
        "configs/modes/btc_basis.yaml: risk.margin_ratio_warning: must be above margin_ratio_critical (0.2), got 0.15"
    )


def test_health_factor_warning_above_critical(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "eth_leveraged", {"risk.health_factor_warning": 1.05})
    assert message == (
        "configs/modes/eth_leveraged.yaml: risk.health_factor_warning: must be above health_factor_critical (1.1), "
        "got 1.05"
    )


def test_health_factor_critical_above_one(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "eth_leveraged", {"risk.health_factor_critical": 0.99})
    assert message == "configs/modes/eth_leveraged.yaml: risk.health_factor_critical: must be > 1, got 0.99"


def test_delta_drift_warning_below_critical(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "btc_basis", {"risk": {"delta_drift_warning": 0.06}})
    assert message == (
        "configs/modes/btc_basis.yaml: risk.delta_drift_warning: must be below delta_drift_critical (0.05), got 0.06"
    )


def test_position_deviation_threshold_is_a_positive_fraction(
    config_files: ConfigFiles, config_root: Path
) -> None:
    message = edit_and_fail(config_files, config_root, "btc_basis", {"position_deviation_threshold": 0})
    assert message == "configs/modes/btc_basis.yaml: position_deviation_threshold: must be > 0, got 0"


# --- ML -----------------------------------------------------------------------------------------


def test_ml_sd_floor_below_cap(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(
        config_files, config_root, "ml_btc_directional_usdt_margin", {"ml_config.sd_cap_bps": 5.0}
    )
    assert message == (
        "configs/modes/ml_btc_directional_usdt_margin.yaml: ml_config.sd_floor_bps: must be below sd_cap_bps (5), "
        "got 10"
    )


def test_ml_mode_trades_nothing_else(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(
        config_files, config_root, "ml_usdt_directional_usdt_margin", {"lending_enabled": True}
    )
    assert message == (
        "configs/modes/ml_usdt_directional_usdt_margin.yaml: venues.lending: required when lending_enabled "
        "or borrowing_enabled is true\n"
        "configs/modes/ml_usdt_directional_usdt_margin.yaml: venues.wallet_transfer: required when the mode "
        "acts on-chain\n"
        "configs/modes/ml_usdt_directional_usdt_margin.yaml: ml_config: an ML mode trades one perp; "
        "lending, staking, basis trade and borrowing must be off"
    )


def test_ml_perp_must_exist_on_the_venue(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.set("modes/ml_btc_directional_usdt_margin.yaml", {"ml_config.symbol": "SOLUSDT"})
    assert run_error(config_root, "ml_btc_directional_usdt_margin") == (
        "configs/modes/ml_btc_directional_usdt_margin.yaml: ml_config.symbol: binance has no perp market SOLUSDT"
    )


# --- the mode as a whole ------------------------------------------------------------------------


def test_a_mode_must_do_something(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("modes/pure_lending_usdt.yaml", "venues")
    message = edit_and_fail(config_files, config_root, "pure_lending_usdt", {"lending_enabled": False})
    assert message == (
        "configs/modes/pure_lending_usdt.yaml: a mode must enable lending, staking or the basis trade, or set ml_config"
    )


def test_market_neutral_share_class_requires_a_hedge(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.set("modes/eth_staking_only.yaml", {"share_class": "USDT"})
    assert run_error(config_root, "eth_staking_only") == (
        "configs/modes/eth_staking_only.yaml: basis_trade_enabled: share class USDT is market neutral, so a mode "
        "holding ETH must hedge it (or set market_neutral: false)"
    )


def test_directional_override_lifts_the_hedge_requirement(
    config_files: ConfigFiles, config_root: Path
) -> None:
    config_files.set("modes/eth_staking_only.yaml", {"share_class": "USDT", "market_neutral": False})
    run = load_run_config("eth_staking_only", "all-simulation", root=config_root)
    assert run.market_neutral is False


def test_share_class_must_exist(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.set("modes/btc_basis.yaml", {"share_class": "EUR"})
    assert (
        run_error(config_root, "btc_basis")
        == "configs/modes/btc_basis.yaml: share_class: no share class 'EUR'"
    )


def test_unknown_key_rejected(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "btc_basis", {"target_apr": 0.1})
    assert message == "configs/modes/btc_basis.yaml: target_apr: unknown key"


def test_unknown_nested_key_rejected(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "btc_basis", {"risk": {"margin_warning": 0.3}})
    assert message == "configs/modes/btc_basis.yaml: risk.margin_warning: unknown key"


def test_missing_key_reported(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("modes/btc_basis.yaml", "initial_capital")
    assert mode_error(config_root, "btc_basis") == "configs/modes/btc_basis.yaml: initial_capital: required"


def test_no_type_coercion(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(
        config_files, config_root, "btc_basis", {"target_apy": "8%", "basis_trade_enabled": "yes"}
    )
    assert message == (
        "configs/modes/btc_basis.yaml: basis_trade_enabled: must be true or false, got 'yes'\n"
        "configs/modes/btc_basis.yaml: target_apy: must be a number, got '8%'"
    )


def test_name_must_match_the_file(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "btc_basis", {"name": "btc"})
    assert message == "configs/modes/btc_basis.yaml: name: must match the file name 'btc_basis', got 'btc'"


def test_an_alias_is_not_the_modes_own_name(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "btc_basis", {"aliases": ["btc_basis"]})
    assert message == "configs/modes/btc_basis.yaml: aliases: must not contain the mode's own name btc_basis"


def test_duplicate_yaml_key(config_files: ConfigFiles, config_root: Path) -> None:
    path = config_root / "modes/btc_basis.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "asset: ETH\n", encoding="utf-8")
    line = len(path.read_text(encoding="utf-8").splitlines())
    assert mode_error(config_root, "btc_basis", ConfigFileError) == (
        f"configs/modes/btc_basis.yaml: line {line}: duplicate key 'asset'"
    )


def test_malformed_yaml(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.write("modes/btc_basis.yaml", "share_class: USDT\nasset: [BTC\n")
    assert mode_error(config_root, "btc_basis", ConfigFileError) == (
        "configs/modes/btc_basis.yaml: line 3: expected ',' or ']', but got '<stream end>'"
    )


def test_a_file_must_hold_a_mapping(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.write("modes/btc_basis.yaml", "- binance\n- bybit\n")
    assert mode_error(config_root, "btc_basis", ConfigFileError) == (
        "configs/modes/btc_basis.yaml: must contain a mapping of keys to values"
    )


def test_every_error_is_a_config_error() -> None:
    for error_type in (ConfigValidationError, ConfigConsistencyError, ConfigFileError):
        assert issubclass(error_type, ConfigError)


def test_no_staking_venue_without_staking(config_files: ConfigFiles, config_root: Path) -> None:
    message = edit_and_fail(config_files, config_root, "btc_basis", {"venues.staking": "lido"})
    assert (
        message == "configs/modes/btc_basis.yaml: venues.staking: must be null when staking_enabled is false"
    )
