"""The configuration shipped with the package: every file valid, every mode derivable and loadable."""

from __future__ import annotations

from pathlib import Path

import pytest

from basis.configs import (
    CexVenueConfig,
    LendingVenueConfig,
    list_environments,
    list_modes,
    list_share_classes,
    list_venues,
    load_environment,
    load_mode,
    load_run_config,
    load_share_class,
    load_venue,
    validate_all,
)
from basis.data import DATA_ROOT

NINE_MODES = [
    "btc_basis",
    "eth_basis",
    "eth_leveraged",
    "eth_staking_only",
    "ml_btc_directional_usdt_margin",
    "ml_usdt_directional_usdt_margin",
    "pure_lending_usdt",
    "usdt_eth_staking_hedged_leveraged",
    "usdt_eth_staking_hedged_simple",
]
TEN_VENUES = [
    "aave_v3",
    "alchemy",
    "binance",
    "bybit",
    "etherfi",
    "instadapp",
    "lido",
    "morpho",
    "okx",
    "uniswap",
]


def test_every_shipped_file_validates() -> None:
    assert validate_all() == []


def test_the_shipped_files_are_the_documented_set() -> None:
    assert list_modes() == NINE_MODES
    assert list_venues() == TEN_VENUES
    assert list_share_classes() == ["BTC", "ETH", "USDT"]
    assert list_environments() == ["all-simulation", "all-testnet", "binance-testnet-aave-simulation", "live"]


@pytest.mark.parametrize("name", NINE_MODES)
def test_every_mode_runs_fully_simulated_without_secrets(name: str, no_secrets: None) -> None:
    run = load_run_config(name, "all-simulation")
    assert run.mode.name == name
    assert tuple(run.venues) == run.mode.required_venues()
    assert {venue.environment for venue in run.venues.values()} == {"simulation"}


@pytest.mark.parametrize("name", TEN_VENUES)
def test_every_venue_defines_all_three_environments(name: str) -> None:
    venue = load_venue(name)
    assert venue.environments.live is not None
    assert venue.environments.testnet is not None
    assert venue.environments.simulation is not None


@pytest.mark.parametrize("name", ["all-simulation", "all-testnet", "live"])
def test_uniform_environments_map_every_venue_to_themselves(name: str) -> None:
    expected = {"all-simulation": "simulation", "all-testnet": "testnet", "live": "live"}[name]
    assert load_environment(name).venues == dict.fromkeys(TEN_VENUES, expected)


def test_mixed_environment_runs_binance_on_testnet_and_aave_simulated() -> None:
    venues = load_environment("binance-testnet-aave-simulation").venues
    assert venues["binance"] == "testnet"
    assert venues["aave_v3"] == "simulation"
    assert set(venues) == set(TEN_VENUES)


def test_share_classes() -> None:
    usdt, eth, btc = (load_share_class(name) for name in ("USDT", "ETH", "BTC"))
    assert (usdt.base_asset, usdt.market_neutral, usdt.decimals, usdt.reporting_currency) == (
        "USDT",
        True,
        6,
        "USDT",
    )
    assert (eth.base_asset, eth.market_neutral, eth.decimals, eth.reporting_currency) == (
        "ETH",
        False,
        18,
        "ETH",
    )
    assert (btc.base_asset, btc.market_neutral, btc.decimals, btc.reporting_currency) == (
        "BTC",
        False,
        8,
        "BTC",
    )


def test_aave_risk_parameters_match_the_market_data() -> None:
    aave = load_venue("aave_v3")
    assert isinstance(aave, LendingVenueConfig)
    assert aave.risk_params.emode.model_dump() == {
        "ltv": 0.93,
        "liquidation_threshold": 0.95,
        "liquidation_bonus": 0.01,
    }
    assert aave.risk_params.standard.model_dump() == {
        "ltv": 0.80,
        "liquidation_threshold": 0.85,
        "liquidation_bonus": 0.05,
    }
    assert aave.risk_params.close_factor == 0.5
    assert aave.environments.live is not None
    assert aave.environments.live.contracts["pool"] == "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"


@pytest.mark.parametrize(("name", "perp_taker"), [("binance", 0.0005), ("bybit", 0.00055), ("okx", 0.0005)])
def test_exchange_fees_and_margin(name: str, perp_taker: float) -> None:
    venue = load_venue(name)
    assert isinstance(venue, CexVenueConfig)
    assert venue.fees.spot.taker == 0.001
    assert venue.fees.perp.taker == perp_taker
    assert venue.margin.maintenance < venue.margin.initial == 0.05


def test_mainnet_addresses_are_checksummed_real_deployments() -> None:
    lido = load_venue("lido").environments.live
    etherfi = load_venue("etherfi").environments.live
    morpho = load_venue("morpho").environments.live
    uniswap = load_venue("uniswap").environments.live
    assert lido is not None and etherfi is not None and morpho is not None and uniswap is not None
    assert lido.tokens == {
        "stETH": "0xae7ab96520DE3A18E5e111B5EaAb095312D7fE84",
        "wstETH": "0x7f39C581F595B53c5cb19bD0b3f8dA6c935E2Ca0",
    }
    assert etherfi.tokens["weETH"] == "0xCd5fE23C85820F7B72D0926FC9b05b43E359b7ee"
    assert morpho.contracts == {"morpho_blue": "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb"}
    assert uniswap.contracts["swap_router_02"] == "0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45"
    # written in lower case in the file, returned checksummed
    assert uniswap.contracts["pool_weth_usdt_3000"] == "0x4e68Ccd3E89f51C3074ca5072bbAC773960dFa36"


def test_simulated_series_exist_in_the_bundled_market_data(no_secrets: None) -> None:
    for venue_name in TEN_VENUES:
        feeds = load_venue(venue_name).simulation_feeds()
        assert feeds is not None
        for key, relative in feeds.series.items():
            assert (DATA_ROOT / Path(relative)).is_file(), f"{venue_name} {key}: {relative}"


def test_proxies_resolve_to_the_other_venues_files(no_secrets: None) -> None:
    run = load_run_config("btc_basis", "all-simulation")
    okx_perp = run.venues["okx"].series["BTCUSDT_perp"]
    assert (okx_perp.venue, okx_perp.series, okx_perp.path) == (
        "binance",
        "BTCUSDT_perp",
        "cex/binance/BTCUSDT_perp_1h.csv.gz",
    )
    own = run.venues["okx"].series["BTCUSDT_funding"]
    assert (own.venue, own.path) == ("okx", "cex/okx/BTCUSDT_funding.csv")
    binance_eth_spot = run.venues["binance"].series["ETHUSDT_spot"]
    assert (binance_eth_spot.venue, binance_eth_spot.path) == ("bybit", "cex/bybit/ETHUSDT_spot_1h.csv.gz")


def test_mode_parameters_from_the_strategy_documents() -> None:
    btc = load_mode("btc_basis")
    assert (btc.share_class, btc.asset, btc.target_apy) == ("USDT", "BTC", 0.08)
    assert btc.hedge_allocation == {"binance": 0.4, "bybit": 0.3, "okx": 0.3}
    assert btc.position_deviation_threshold == 0.02
    hedged = load_mode("usdt_eth_staking_hedged_leveraged")
    assert (hedged.lst_type, hedged.stake_allocation_percentage) == ("weETH", 0.5)
    assert hedged.target_ltv is not None and hedged.max_ltv is not None
    assert hedged.target_ltv < hedged.max_ltv < 0.95
    ml = load_mode("ml_btc_directional_usdt_margin")
    assert ml.ml_config is not None
    assert (ml.ml_config.venue, ml.ml_config.symbol, ml.ml_config.signal_threshold) == (
        "binance",
        "BTCUSDT",
        0.7,
    )
    assert (ml.ml_config.take_profit_sd, ml.ml_config.stop_loss_sd) == (2.0, 2.0)
    assert (ml.ml_config.sd_floor_bps, ml.ml_config.sd_cap_bps) == (10.0, 1000.0)
    assert ml.initial_capital == 1.0
    assert load_mode("ml_usdt_directional_usdt_margin").initial_capital == 10000.0
