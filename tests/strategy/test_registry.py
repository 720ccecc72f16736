"""Mode names to strategy classes, and parameters from the mode configurations."""

from __future__ import annotations

import pytest
from strategyutil import btc_params, detached

from basis.components.router import RouterParams
from basis.components.strategy import (
    STRATEGIES,
    BasisParams,
    BtcBasisStrategy,
    EthBasisStrategy,
    HedgedLeveragedParams,
    HedgedLeveragedStrategy,
    HedgedStakingParams,
    HedgedStakingStrategy,
    LendingParams,
    LeveragedStakingParams,
    LeveragedStakingStrategy,
    PureLendingStrategy,
    StakingParams,
    StakingStrategy,
    UnknownStrategy,
    create_strategy,
    strategy_class,
)
from basis.configs.loader import load_mode


def test_every_mode_name_maps_to_its_class() -> None:
    assert STRATEGIES == {
        "pure_lending_usdt": PureLendingStrategy,
        "btc_basis": BtcBasisStrategy,
        "eth_basis": EthBasisStrategy,
        "eth_staking_only": StakingStrategy,
        "eth_leveraged": LeveragedStakingStrategy,
        "usdt_eth_staking_hedged_simple": HedgedStakingStrategy,
        "usdt_eth_staking_hedged_leveraged": HedgedLeveragedStrategy,
    }
    with pytest.raises(
        UnknownStrategy,
        match="no strategy for mode 'ml_btc_directional_usdt_margin'; known: btc_basis, eth_basis, eth_leveraged",
    ):
        strategy_class("ml_btc_directional_usdt_margin")


def test_create_strategy_builds_the_class_with_its_parameters() -> None:
    probe = detached(BtcBasisStrategy, btc_params())
    strategy = create_strategy("btc_basis", probe.bus, probe.clock, probe.ids, btc_params())
    assert isinstance(strategy, BtcBasisStrategy) and strategy.name == "strategy"


@pytest.mark.parametrize("mode", sorted(STRATEGIES))
def test_parameters_from_the_mode_configuration(mode: str) -> None:
    config = load_mode(mode)
    params = STRATEGIES[mode].params_from_mode(config)
    assert params.share_class == config.share_class
    assert params.position_deviation_threshold == config.position_deviation_threshold
    router = RouterParams.from_mode(config)
    if isinstance(params, HedgedStakingParams):  # half the equity staked, half the shorts' margin
        assert (params.token, params.stake_allocation, params.margin_buffer) == ("weETH", 0.5, 1.0)
        assert params.dust_into == "ETH" and params.dust_tokens == ("EIGEN", "ETHFI")
        assert router.actions.venues["hedge"] == {"binance": 0.4, "bybit": 0.3, "okx": 0.3}
        assert router.actions.venues["staking"] == {"etherfi": 1.0}
        if isinstance(params, HedgedLeveragedParams):
            assert (params.target_ltv, params.leverage) == (0.8, pytest.approx(5.0))
            assert (params.lending_venue, params.flash_lender) == ("aave_v3", "morpho")
    elif isinstance(params, BasisParams):
        assert params.allocation == {"binance": 0.4, "bybit": 0.3, "okx": 0.3}
        assert params.margin_warning == config.risk.margin_ratio_warning
        assert params.margin_buffer == pytest.approx(0.30 + 0.10 * 1.30)
        assert router.actions.venues["hedge"] == {"binance": 0.4, "bybit": 0.3, "okx": 0.3}
        assert router.actions.venues["spot"] == {"binance": 1.0}
    elif isinstance(params, LeveragedStakingParams):
        assert (params.token, params.target_ltv, params.leverage) == ("weETH", 0.8, pytest.approx(5.0))
        assert (params.lending_venue, params.staking_venue, params.flash_lender) == (
            "aave_v3",
            "etherfi",
            "morpho",
        )
        assert router.actions.venues["flash_loan"] == {"instadapp": 1.0}
    elif isinstance(params, StakingParams):
        assert params.token == "weETH" and router.actions.venues["staking"] == {"etherfi": 1.0}
    else:
        assert isinstance(params, LendingParams) and (params.asset, params.venue) == ("USDT", "aave_v3")
        assert "hedge" not in router.actions.venues and router.actions.venues["lending"] == {"aave_v3": 1.0}
    overridden = STRATEGIES[mode].params_from_mode(config, min_order_usd=50.0)
    assert overridden.min_order_usd == 50.0
