"""One test per rule of a venue file; each asserts the exact message, naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from configutil import ConfigFiles

from basis.configs import ConfigConsistencyError, ConfigValidationError, load_run_config, load_venue


def venue_error(files: ConfigFiles, root: Path, name: str, changes: dict[str, Any]) -> str:
    files.set(f"venues/{name}.yaml", changes)
    with pytest.raises(ConfigValidationError) as caught:
        load_venue(name, root)
    return str(caught.value)


def test_maintenance_margin_below_initial(config_files: ConfigFiles, config_root: Path) -> None:
    # the placeholder margin.json of the market data has exactly this inconsistency
    message = venue_error(config_files, config_root, "binance", {"margin.maintenance": 0.1})
    assert (
        message
        == "configs/venues/binance.yaml: margin.maintenance: must be below margin.initial (0.05), got 0.1"
    )


def test_fees_are_fractions(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(config_files, config_root, "bybit", {"fees.perp.taker": 5.5})
    assert message == "configs/venues/bybit.yaml: fees.perp.taker: must be <= 1, got 5.5"


def test_every_market_has_simulated_data(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("venues/binance.yaml", "environments.simulation.proxies.ETHUSDT_spot")
    message = venue_error(config_files, config_root, "binance", {})
    assert message == (
        "configs/venues/binance.yaml: environments.simulation.series.ETHUSDT_spot: "
        "missing: spot market ETHUSDT needs a series or a proxy"
    )


def test_perp_markets_need_funding_data(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("venues/okx.yaml", "environments.simulation.series.BTCUSDT_funding")
    message = venue_error(config_files, config_root, "okx", {})
    assert message == (
        "configs/venues/okx.yaml: environments.simulation.series.BTCUSDT_funding: "
        "missing: perp market BTCUSDT needs a series or a proxy"
    )


def test_a_series_is_either_own_or_proxied(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(
        config_files, config_root, "okx", {"environments.simulation.series.BTCUSDT_perp": "cex/okx/x.csv"}
    )
    assert message == (
        "configs/venues/okx.yaml: environments.simulation.proxies.BTCUSDT_perp: also listed under series; keep one"
    )


def test_a_proxy_points_to_another_venue(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(
        config_files, config_root, "okx", {"environments.simulation.proxies.BTCUSDT_perp.venue": "okx"}
    )
    assert message == (
        "configs/venues/okx.yaml: environments.simulation.proxies.BTCUSDT_perp.venue: "
        "a proxy must point to another venue"
    )


def test_a_proxy_points_to_an_existing_series(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.set(
        "venues/okx.yaml", {"environments.simulation.proxies.BTCUSDT_perp.series": "BTCUSDT_swap"}
    )
    with pytest.raises(ConfigConsistencyError) as caught:
        load_run_config("btc_basis", "all-simulation", root=config_root)
    assert str(caught.value) == (
        "configs/venues/okx.yaml: environments.simulation.proxies.BTCUSDT_perp.series: "
        "binance has no simulation series BTCUSDT_swap"
    )


def test_series_paths_are_relative_data_files(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(
        config_files, config_root, "alchemy", {"environments.simulation.series.ETH_gas": "/etc/passwd"}
    )
    assert message.startswith(
        "configs/venues/alchemy.yaml: environments.simulation.series.ETH_gas: must match "
    )
    assert message.endswith(", got '/etc/passwd'")


def test_chain_id_matches_the_network(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(config_files, config_root, "aave_v3", {"environments.testnet.chain_id": 1})
    assert (
        message
        == "configs/venues/aave_v3.yaml: environments.testnet.chain_id: sepolia has chain id 11155111, got 1"
    )


def test_testnet_is_not_mainnet(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(
        config_files,
        config_root,
        "lido",
        {"environments.testnet.network": "mainnet", "environments.testnet.chain_id": 1},
    )
    assert (
        message == "configs/venues/lido.yaml: environments.testnet.network: testnet must not run on mainnet"
    )


def test_live_is_mainnet(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(
        config_files,
        config_root,
        "morpho",
        {"environments.live.network": "sepolia", "environments.live.chain_id": 11155111},
    )
    assert (
        message
        == "configs/venues/morpho.yaml: environments.live.network: live must run on mainnet, got sepolia"
    )


def test_unknown_network(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(config_files, config_root, "uniswap", {"environments.testnet.network": "goerli"})
    assert message == (
        "configs/venues/uniswap.yaml: environments.testnet.network: must be 'mainnet', 'sepolia' or 'holesky', "
        "got 'goerli'"
    )


def test_mixed_case_address_must_pass_the_checksum(config_files: ConfigFiles, config_root: Path) -> None:
    bad = "0x6ae43d3271ff6888e7Fc43Fd7321a503ff738951"
    message = venue_error(config_files, config_root, "aave_v3", {"environments.testnet.contracts.pool": bad})
    assert message == (
        f"configs/venues/aave_v3.yaml: environments.testnet.contracts.pool: fails the EIP-55 checksum: {bad}"
    )


def test_address_has_twenty_bytes(config_files: ConfigFiles, config_root: Path) -> None:
    # the stETH address with one hex digit too many
    bad = "0xae7ab96520DE3A18E5e111B5EaA5eB0F3e8F7c9A7"
    message = venue_error(config_files, config_root, "lido", {"environments.testnet.tokens.stETH": bad})
    assert message == (
        "configs/venues/lido.yaml: environments.testnet.tokens.stETH: must be a 0x-prefixed 20-byte hex address, "
        f"got {bad}"
    )


def test_secrets_are_environment_references(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(
        config_files, config_root, "binance", {"environments.live.credentials.api_key": "AbC123plaintext"}
    )
    assert message == (
        "configs/venues/binance.yaml: environments.live.credentials.api_key: must be an environment reference "
        "like ${NAME}; secrets are never written in config files"
    )


def test_exchange_credentials_are_required(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("venues/okx.yaml", "environments.live.credentials.api_secret")
    message = venue_error(config_files, config_root, "okx", {})
    assert message == "configs/venues/okx.yaml: environments.live.credentials.api_secret: required"


def test_endpoints_for_each_market_type(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("venues/bybit.yaml", "environments.testnet.perp")
    message = venue_error(config_files, config_root, "bybit", {})
    assert message == (
        "configs/venues/bybit.yaml: environments.testnet.perp: required because the venue lists perp markets"
    )


def test_endpoints_are_secure_urls(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(
        config_files, config_root, "binance", {"environments.live.perp.rest_url": "http://fapi.binance.com"}
    )
    assert message == (
        "configs/venues/binance.yaml: environments.live.perp.rest_url: must match ^https://[^\\s]+$, "
        "got 'http://fapi.binance.com'"
    )


def test_simulation_takes_no_credentials(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(
        config_files, config_root, "bybit", {"environments.simulation.credentials": {"api_key": "${X}"}}
    )
    assert message == "configs/venues/bybit.yaml: environments.simulation.credentials: unknown key"


def test_ltv_below_liquidation_threshold(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(config_files, config_root, "aave_v3", {"risk_params.standard.ltv": 0.86})
    assert message == (
        "configs/venues/aave_v3.yaml: risk_params.standard.ltv: must be below liquidation_threshold (0.85), got 0.86"
    )


def test_kind_must_match_the_venue(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(config_files, config_root, "aave_v3", {"kind": "cex"})
    assert message == "configs/venues/aave_v3.yaml: kind: must be 'lending' for aave_v3, got 'cex'"


def test_staking_venue_issues_its_own_token(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(config_files, config_root, "lido", {"lst": "weETH"})
    assert message == "configs/venues/lido.yaml: lst: must be wstETH for lido, got weETH"


def test_unknown_gas_operation(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(config_files, config_root, "uniswap", {"gas.swap_exact": 150000})
    assert message.startswith("configs/venues/uniswap.yaml: gas.swap_exact: must be 'approve', 'transfer', ")
    assert message.endswith(", got 'swap_exact'")


def test_gas_units_are_positive_integers(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(config_files, config_root, "aave_v3", {"gas.borrow": 0})
    assert message == "configs/venues/aave_v3.yaml: gas.borrow: must be > 0, got 0"


def test_default_fee_tier_is_listed(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(config_files, config_root, "uniswap", {"default_fee_tier": 2500})
    assert message == "configs/venues/uniswap.yaml: default_fee_tier: must be one of fee_tiers, got 2500"


def test_unknown_venue_key(config_files: ConfigFiles, config_root: Path) -> None:
    message = venue_error(config_files, config_root, "okx", {"fees.futures": {"maker": 0.0, "taker": 0.0}})
    assert message == "configs/venues/okx.yaml: fees.futures: unknown key"


def test_unknown_venue_file(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.write("venues/kraken.yaml", {"kind": "cex"})
    with pytest.raises(ConfigValidationError) as caught:
        load_venue("kraken", config_root)
    assert str(caught.value) == (
        "configs/venues/kraken.yaml: not a known venue; known venues: binance, bybit, okx, aave_v3, lido, etherfi, "
        "morpho, instadapp, uniswap, alchemy"
    )
