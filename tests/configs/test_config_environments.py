"""Environments: every venue a mode needs must be configured for the environment chosen for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from configutil import ConfigFiles

from basis.configs import (
    ConfigConsistencyError,
    ConfigValidationError,
    load_environment,
    load_run_config,
)

SIMULATED = {
    "binance": "simulation",
    "bybit": "simulation",
    "okx": "simulation",
    "aave_v3": "simulation",
    "lido": "simulation",
    "etherfi": "simulation",
    "morpho": "simulation",
    "instadapp": "simulation",
    "uniswap": "simulation",
    "alchemy": "simulation",
}


def write_environment(files: ConfigFiles, name: str, venues: dict[str, str]) -> None:
    files.write(f"environments/{name}.yaml", {"description": "test", "venues": venues})


def run_error(root: Path, mode: str, env: str) -> str:
    with pytest.raises(ConfigConsistencyError) as caught:
        load_run_config(mode, env, root=root, environ={})
    return str(caught.value)


def test_a_needed_venue_must_be_mapped(config_files: ConfigFiles, config_root: Path) -> None:
    venues = dict(SIMULATED)
    del venues["okx"]
    write_environment(config_files, "no-okx", venues)
    assert run_error(config_root, "btc_basis", "no-okx") == (
        "configs/environments/no-okx.yaml: venues.okx: mode btc_basis needs okx, which is not mapped"
    )


def test_a_venue_not_needed_may_be_left_out(config_files: ConfigFiles, config_root: Path) -> None:
    write_environment(config_files, "cex-only", {"binance": "simulation"})
    run = load_run_config("ml_btc_directional_usdt_margin", "cex-only", root=config_root, environ={})
    assert list(run.venues) == ["binance"]


def test_the_venue_must_define_the_chosen_environment(config_files: ConfigFiles, config_root: Path) -> None:
    config_files.delete("venues/morpho.yaml", "environments.testnet")
    write_environment(config_files, "morpho-testnet", SIMULATED | {"morpho": "testnet"})
    assert run_error(config_root, "eth_leveraged", "morpho-testnet") == (
        "configs/venues/morpho.yaml: environments.testnet: not defined, but environment morpho-testnet runs "
        "morpho on testnet for mode eth_leveraged"
    )


def test_environment_values_are_checked(config_files: ConfigFiles, config_root: Path) -> None:
    write_environment(config_files, "staging", SIMULATED | {"binance": "staging"})
    with pytest.raises(ConfigValidationError) as caught:
        load_environment("staging", config_root)
    assert str(caught.value) == (
        "configs/environments/staging.yaml: venues.binance: must be 'live', 'testnet' or 'simulation', got 'staging'"
    )


def test_environment_venues_are_known(config_files: ConfigFiles, config_root: Path) -> None:
    write_environment(config_files, "kraken", SIMULATED | {"kraken": "live"})
    with pytest.raises(ConfigValidationError) as caught:
        load_environment("kraken", config_root)
    assert str(caught.value) == (
        "configs/environments/kraken.yaml: venues.kraken: must be 'binance', 'bybit', 'okx', 'aave_v3', 'lido', "
        "'etherfi', 'morpho', 'instadapp', 'uniswap' or 'alchemy', got 'kraken'"
    )


def test_mixed_environment_resolves_each_venue_on_its_own(all_secrets: dict[str, str]) -> None:
    run = load_run_config("usdt_eth_staking_hedged_leveraged", "binance-testnet-aave-simulation")
    assert {name: venue.environment for name, venue in run.venues.items()} == {
        "binance": "testnet",
        "bybit": "simulation",
        "okx": "simulation",
        "aave_v3": "simulation",
        "etherfi": "simulation",
        "morpho": "simulation",
        "instadapp": "simulation",
        "uniswap": "simulation",
        "alchemy": "simulation",
    }
    assert run.venues["binance"].settings.perp.rest_url == "https://testnet.binancefuture.com"
    assert run.venues["binance"].series == {}
    assert run.venues["aave_v3"].series["USDT_reserve"].path == "aave_v3/usdt_reserve_daily.csv"


def test_on_chain_venue_off_simulation_needs_the_rpc_too(
    config_files: ConfigFiles, config_root: Path
) -> None:
    write_environment(config_files, "aave-testnet", SIMULATED | {"aave_v3": "testnet"})
    assert run_error(config_root, "pure_lending_usdt", "aave-testnet") == (
        "configs/environments/aave-testnet.yaml: venues.alchemy: aave_v3 runs on testnet, so the RPC venue must too, "
        "got simulation"
    )


def test_unknown_testnet_addresses_refuse_the_run(all_secrets: dict[str, str]) -> None:
    with pytest.raises(ConfigConsistencyError) as caught:
        load_run_config("eth_staking_only", "all-testnet")
    assert str(caught.value) == (
        "configs/venues/etherfi.yaml: environments.testnet.contracts.liquidity_pool: no address known on holesky, "
        "so etherfi cannot run on testnet\n"
        "configs/venues/etherfi.yaml: environments.testnet.contracts.eeth: no address known on holesky, "
        "so etherfi cannot run on testnet\n"
        "configs/venues/etherfi.yaml: environments.testnet.contracts.weeth: no address known on holesky, "
        "so etherfi cannot run on testnet\n"
        "configs/venues/etherfi.yaml: environments.testnet.contracts.withdraw_request_nft: no address known on "
        "holesky, so etherfi cannot run on testnet\n"
        "configs/venues/etherfi.yaml: environments.testnet.chain_id: 17000 (holesky) differs from alchemy's "
        "11155111 (sepolia); on-chain venues of one run share one chain"
    )


def test_staking_on_the_lido_testnet(all_secrets: dict[str, str]) -> None:
    run = load_run_config("eth_staking_only", "all-testnet", overrides={"lst_type": "wstETH"})
    assert list(run.venues) == ["lido", "alchemy"]
    assert run.venues["lido"].settings.chain_id == 11155111
    assert run.venues["alchemy"].settings.chain_id == 11155111


def test_on_chain_venues_of_a_run_share_one_chain(
    config_files: ConfigFiles, config_root: Path, all_secrets: dict[str, str]
) -> None:
    config_files.set(
        "venues/lido.yaml",
        {"environments.testnet.network": "holesky", "environments.testnet.chain_id": 17000},
    )
    with pytest.raises(ConfigConsistencyError) as caught:
        load_run_config("eth_staking_only", "all-testnet", root=config_root, overrides={"lst_type": "wstETH"})
    assert str(caught.value) == (
        "configs/venues/lido.yaml: environments.testnet.chain_id: 17000 (holesky) differs from alchemy's "
        "11155111 (sepolia); on-chain venues of one run share one chain"
    )


@pytest.mark.parametrize("env", ["all-testnet", "live"])
def test_cex_only_modes_run_on_testnet_and_live(env: str, all_secrets: dict[str, str]) -> None:
    run = load_run_config("btc_basis", env)
    assert {venue.environment for venue in run.venues.values()} == {env.removeprefix("all-")}
