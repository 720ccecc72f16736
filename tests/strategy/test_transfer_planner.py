"""The transfer planner on the shipped venue configuration: the asset and steps of every route, costs
worked out by hand from the venue files, size limits, and the source limits (AAVE LTV, CEX margin).

Figures used throughout: gas 20 gwei (2e-8 ETH a unit) at 3,000 USD an ETH, so one unit of gas costs
6e-5 USD; weETH 3,150 USD, wstETH 3,500 USD, USDT 1 USD. From the venue files: Binance/Bybit/OKX withdraw
after 1,800 s for 0.001 ETH or 3 USDT and credit deposits after 900 s; ether.fi unstakes in 604,800 s
(unstake 300,000 gas, stake 120,000), Lido in 432,000 s; AAVE withdraw 220,000 gas, supply 200,000;
Uniswap swap 180,000 gas in the 1 bp LST pool; the wallet's ETH transfer 21,000 gas, token transfer 65,000.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import cast

import msgspec
import pytest

from basis.bus.messages import Swap, Transfer, Unstake
from basis.components.strategy.transfers import (
    LendingHealth,
    MarginHealth,
    MissingFigure,
    PlanStep,
    TransferCosts,
    TransferPlanError,
    TransferPlanner,
    UnsupportedRoute,
)
from basis.components.strategy.venue_terms import VenueTerms
from basis.configs import load_run_config, load_venue
from basis.configs.run import ResolvedVenue

approx = pytest.approx
YEAR = 365 * 86_400
GAS_UNIT_USD = 20e-9 * 3_000.0
PRICES = {"ETH": 3_000.0, "USDT": 1.0, "weETH": 3_150.0, "wstETH": 3_500.0}
YIELDS = {"etherfi": 0.035, "lido": 0.03, "aave_v3": 0.05, "binance": 0.10, "bybit": 0.08, "okx": 0.08}
SAFE_MARGIN = MarginHealth(equity_usd=50_000.0, notional_usd=100_000.0, min_ratio=0.20)
SAFE_LTV = LendingHealth(collateral_usd=100_000.0, debt_usd=50_000.0, max_ltv=0.85)


def exactly(message: str) -> str:
    """A pattern that matches ``message`` whole."""
    return f"^{re.escape(message)}$"


@pytest.fixture(scope="module")
def costs() -> TransferCosts:
    """The venues of the leveraged hedged mode, and Lido beside them."""
    run = load_run_config("usdt_eth_staking_hedged_leveraged", "all-simulation")
    venues = {**run.venues, "lido": ResolvedVenue("lido", "simulation", load_venue("lido"))}
    return TransferCosts.from_venues(venues, gas_price_eth=20e-9, prices_usd=PRICES, yields=YIELDS)


@pytest.fixture
def planner(costs: TransferCosts) -> TransferPlanner:
    return TransferPlanner(costs)


def steps(plan_steps: tuple[PlanStep, ...]) -> list[tuple[str, str, dict[str, object]]]:
    """Each step as its venue, action type and fields."""
    return [(s.venue, type(s.action).__name__, msgspec.structs.asdict(s.action)) for s in plan_steps]


# --- costs from the configuration -----------------------------------------------------------------


def test_costs_read_each_venue_kind_from_its_file(costs: TransferCosts) -> None:
    binance = costs.terms("binance")
    assert (binance.kind, binance.withdrawal_delay_s, binance.deposit_delay_s) == ("cex", 1_800.0, 900.0)
    assert dict(binance.withdrawal_fees) == {"USDT": 3.0, "ETH": 0.001, "BTC": 0.0002}
    etherfi = costs.terms("etherfi")
    assert (etherfi.kind, etherfi.lst, etherfi.withdrawal_delay_s) == ("staking", "weETH", 604_800.0)
    assert (etherfi.gas["stake"], etherfi.gas["unstake"]) == (120_000, 300_000)
    assert costs.terms("lido").lst == "wstETH"
    assert costs.terms("aave_v3").gas["withdraw"] == 220_000
    assert (costs.terms("uniswap").kind, costs.terms("uniswap").swap_fee_bps) == ("dex", 1.0)
    wallet = costs.terms("wallet")  # alchemy's gas is the wallet's
    assert (wallet.kind, wallet.gas["transfer"], wallet.gas["erc20_transfer"]) == ("wallet", 21_000, 65_000)
    assert costs.dex == "uniswap"
    assert "morpho" not in costs.venues and "instadapp" not in costs.venues and "alchemy" not in costs.venues


def test_costs_are_immutable_copies(costs: TransferCosts) -> None:
    prices = dict(PRICES)
    frozen = TransferCosts(costs.venues, 1e-9, prices, YIELDS)
    prices["ETH"] = 1.0
    assert frozen.price("ETH") == 3_000.0
    with pytest.raises(TypeError):
        cast(dict[str, float], frozen.prices_usd)["ETH"] = 1.0


def test_costs_need_an_eth_price_and_sane_figures(costs: TransferCosts) -> None:
    with pytest.raises(MissingFigure, match=exactly("no ETH price: gas is paid in ETH")):
        TransferCosts(costs.venues, 1e-9, {"USDT": 1.0}, YIELDS)
    with pytest.raises(ValueError, match=exactly("price of USDT must be finite and > 0, got 0.0")):
        TransferCosts(costs.venues, 1e-9, {"ETH": 3_000.0, "USDT": 0.0}, YIELDS)
    with pytest.raises(ValueError, match=exactly("a staking venue needs its lst")):
        VenueTerms("staking")


# --- routes: asset, steps and costs ---------------------------------------------------------------


def test_etherfi_to_cex_swaps_weeth_for_eth_and_sends_it(planner: TransferPlanner) -> None:
    plan = planner.plan("etherfi", "binance", 10_000.0)
    conversion = 10_000.0 * 1e-4  # the 1 bp pool fee
    eth = (10_000.0 - conversion) / 3_000.0
    assert (plan.asset, plan.refused) == ("ETH", "")
    assert plan.amount == approx(eth)
    assert steps(plan.steps) == [
        ("uniswap", "Swap", {"sell_asset": "weETH", "buy_asset": "ETH", "amount": approx(10_000.0 / 3_150.0), "max_slippage_bps": 50.0}),
        ("wallet", "Transfer", {"source": "wallet", "destination": "binance", "asset": "ETH", "amount": approx(eth)}),
    ]  # fmt: skip
    assert plan.cost.gas_usd == approx((180_000 + 21_000) * GAS_UNIT_USD)  # 12.06
    assert plan.cost.fees_usd == 0.0  # Binance charges no deposit fee
    assert plan.cost.conversion_usd == approx(1.0)
    assert plan.seconds_in_flight == 900.0  # Binance's deposit delay
    assert plan.cost.yield_lost_usd == approx(10_000.0 * 0.035 * 900 / YEAR)
    assert plan.cost.total_usd == approx(12.06 + 1.0 + 10_000.0 * 0.035 * 900 / YEAR)


def test_lido_to_cex_swaps_wsteth(planner: TransferPlanner) -> None:
    plan = planner.plan("lido", "okx", 7_000.0)
    assert plan.asset == "ETH"
    assert [type(s.action) for s in plan.steps] == [Swap, Transfer]
    swap = plan.steps[0].action
    assert isinstance(swap, Swap)
    assert swap.sell_asset == "wstETH"
    assert swap.amount == approx(2.0)  # 7,000 / 3,500
    assert plan.cost.yield_lost_usd == approx(7_000.0 * 0.03 * 900 / YEAR)


def test_staking_to_cex_unstakes_when_the_queue_is_cheaper(costs: TransferCosts) -> None:
    """With no staking yield lost in the queue and gas at 1 gwei, unstaking (300,000 + 21,000 gas =
    0.963 USD) beats the swap (201,000 gas = 0.603 USD plus the 1 USD pool fee)."""
    cheap = TransferPlanner(replace(costs, gas_price_eth=1e-9, yields={**YIELDS, "etherfi": 0.0}))
    plan = cheap.plan("etherfi", "bybit", 10_000.0)
    assert steps(plan.steps) == [
        ("etherfi", "Unstake", {"token": "weETH", "amount": approx(10_000.0 / 3_150.0)}),
        ("wallet", "Transfer", {"source": "wallet", "destination": "bybit", "asset": "ETH", "amount": approx(10_000.0 / 3_000.0)}),
    ]  # fmt: skip
    assert plan.cost.gas_usd == approx(321_000 * 1e-9 * 3_000.0)
    assert plan.cost.conversion_usd == 0.0
    assert plan.seconds_in_flight == 604_800.0 + 900.0  # the queue, then Bybit's deposit delay
    urgent = cheap.plan("etherfi", "bybit", 10_000.0, urgent=True)
    assert [type(s.action) for s in urgent.steps] == [Swap, Transfer]
    assert urgent.seconds_in_flight == 900.0
    assert urgent.cost.total_usd > plan.cost.total_usd


def test_unstaking_costs_the_yield_lost_in_the_queue(costs: TransferCosts) -> None:
    no_dex = replace(costs, venues={k: v for k, v in costs.venues.items() if k != "uniswap"})
    plan = TransferPlanner(no_dex).plan("etherfi", "binance", 10_000.0)
    assert [type(s.action) for s in plan.steps] == [Unstake, Transfer]
    assert plan.cost.yield_lost_usd == approx(10_000.0 * 0.035 * 605_700 / YEAR)  # 6.72 USD
    assert plan.cost.total_usd == approx(321_000 * GAS_UNIT_USD + 10_000.0 * 0.035 * 605_700 / YEAR)


def test_aave_to_cex_withdraws_usdt_and_sends_it(planner: TransferPlanner) -> None:
    plan = planner.plan("aave_v3", "bybit", 20_000.0, health=SAFE_LTV)
    assert (plan.asset, plan.amount) == ("USDT", 20_000.0)
    assert steps(plan.steps) == [
        ("aave_v3", "Withdraw", {"asset": "USDT", "amount": 20_000.0}),
        ("wallet", "Transfer", {"source": "wallet", "destination": "bybit", "asset": "USDT", "amount": 20_000.0}),
    ]  # fmt: skip
    assert plan.cost.gas_usd == approx((220_000 + 65_000) * GAS_UNIT_USD)  # 17.10
    assert (plan.cost.fees_usd, plan.cost.conversion_usd) == (0.0, 0.0)
    assert plan.seconds_in_flight == 900.0
    assert plan.cost.yield_lost_usd == approx(20_000.0 * 0.05 * 900 / YEAR)
    assert plan.cost_bps == approx(plan.cost.total_usd / 20_000.0 * 10_000.0)


def test_etherfi_to_aave_supplies_weeth(planner: TransferPlanner) -> None:
    plan = planner.plan("etherfi", "aave_v3", 10_000.0)
    assert plan.asset == "weETH"
    assert plan.amount == approx(10_000.0 / 3_150.0)
    assert steps(plan.steps) == [
        ("aave_v3", "Supply", {"asset": "weETH", "amount": approx(10_000.0 / 3_150.0)})
    ]
    assert plan.cost.gas_usd == approx(200_000 * GAS_UNIT_USD)  # 12.00
    assert (plan.seconds_in_flight, plan.cost.yield_lost_usd) == (0.0, 0.0)


def test_cex_to_etherfi_withdraws_eth_and_stakes_what_arrives(planner: TransferPlanner) -> None:
    plan = planner.plan("binance", "etherfi", 9_000.0, health=SAFE_MARGIN)
    assert plan.asset == "ETH"
    assert plan.amount == approx(3.0)
    assert steps(plan.steps) == [
        ("binance", "Transfer", {"source": "binance", "destination": "wallet", "asset": "ETH", "amount": approx(3.0)}),
        ("etherfi", "Stake", {"token": "weETH", "amount": approx(2.999)}),
    ]  # fmt: skip
    assert plan.cost.fees_usd == approx(0.001 * 3_000.0)  # Binance's ETH withdrawal fee: 3 USD
    assert plan.cost.gas_usd == approx(120_000 * GAS_UNIT_USD)  # the stake: 7.20
    assert plan.seconds_in_flight == 1_800.0
    assert plan.cost.yield_lost_usd == approx(9_000.0 * 0.10 * 1_800 / YEAR)
    assert plan.cost.total_usd == approx(3.0 + 7.2 + 9_000.0 * 0.10 * 1_800 / YEAR)


def test_cex_to_cex_sends_usdt_directly(planner: TransferPlanner) -> None:
    plan = planner.plan("binance", "okx", 10_000.0, health=SAFE_MARGIN)
    assert steps(plan.steps) == [
        ("binance", "Transfer", {"source": "binance", "destination": "okx", "asset": "USDT", "amount": 10_000.0})
    ]  # fmt: skip
    assert (plan.cost.fees_usd, plan.cost.gas_usd) == (3.0, 0.0)
    assert plan.seconds_in_flight == 1_800.0 + 900.0  # Binance's withdrawal, then OKX's deposit
    assert plan.cost.yield_lost_usd == approx(10_000.0 * 0.10 * 2_700 / YEAR)


def test_wallet_to_cex_sends_usdt(planner: TransferPlanner) -> None:
    plan = planner.plan("wallet", "bybit", 6_000.0)
    assert steps(plan.steps) == [
        ("wallet", "Transfer", {"source": "wallet", "destination": "bybit", "asset": "USDT", "amount": 6_000.0})
    ]  # fmt: skip
    assert plan.cost.gas_usd == approx(65_000 * GAS_UNIT_USD)  # 3.90
    assert (plan.cost.fees_usd, plan.cost.yield_lost_usd) == (0.0, 0.0)  # the wallet earns nothing
    assert plan.seconds_in_flight == 900.0


def test_cex_to_wallet_moves_the_asset_asked(planner: TransferPlanner) -> None:
    plan = planner.plan("okx", "wallet", 6_000.0, asset="ETH", health=SAFE_MARGIN)
    assert steps(plan.steps) == [
        ("okx", "Transfer", {"source": "okx", "destination": "wallet", "asset": "ETH", "amount": approx(2.0)})
    ]  # fmt: skip
    assert plan.cost.fees_usd == approx(3.0)  # 0.001 ETH × 3,000
    assert plan.seconds_in_flight == 1_800.0
    usdt = planner.plan("okx", "wallet", 6_000.0, asset="USDT", health=SAFE_MARGIN)
    assert (usdt.asset, usdt.amount, usdt.cost.fees_usd) == ("USDT", 6_000.0, 3.0)
    with pytest.raises(TransferPlanError, match=exactly("okx → wallet moves the asset asked: pass asset")):
        planner.plan("okx", "wallet", 6_000.0, health=SAFE_MARGIN)


def test_cex_and_wallet_to_aave_supply_usdt(planner: TransferPlanner) -> None:
    from_cex = planner.plan("bybit", "aave_v3", 6_000.0, health=SAFE_MARGIN)
    assert steps(from_cex.steps) == [
        ("bybit", "Transfer", {"source": "bybit", "destination": "wallet", "asset": "USDT", "amount": 6_000.0}),
        ("aave_v3", "Supply", {"asset": "USDT", "amount": 5_997.0}),
    ]  # fmt: skip
    assert (from_cex.cost.fees_usd, from_cex.seconds_in_flight) == (3.0, 1_800.0)
    from_wallet = planner.plan("wallet", "aave_v3", 6_000.0)
    assert steps(from_wallet.steps) == [("aave_v3", "Supply", {"asset": "USDT", "amount": 6_000.0})]
    assert from_wallet.cost.total_usd == approx(200_000 * GAS_UNIT_USD)


def test_a_plan_describes_itself_and_converts_to_event_fields(planner: TransferPlanner) -> None:
    plan = planner.plan("wallet", "bybit", 6_000.0)
    assert plan.describe() == "transfer(source=wallet, destination=bybit, asset=USDT, amount=6000.0)@wallet"
    fields = plan.to_event_fields()
    assert fields == {
        "source": "wallet",
        "destination": "bybit",
        "asset": "USDT",
        "amount": 6_000.0,
        "amount_usd": 6_000.0,
        "steps": ("transfer(source=wallet, destination=bybit, asset=USDT, amount=6000.0)@wallet",),
        "gas_usd": approx(3.9),
        "fees_usd": 0.0,
        "conversion_usd": 0.0,
        "yield_lost_usd": 0.0,
        "total_usd": approx(3.9),
        "seconds_in_flight": 900.0,
        "refused": "",
    }
    assert msgspec.json.decode(msgspec.json.encode(fields)) == {**fields, "steps": [plan.steps[0].describe()]}


# --- routes that do not exist, figures that are missing -------------------------------------------


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        ("aave_v3", "etherfi", "no route from aave_v3 (lending) to etherfi (staking)"),
        ("etherfi", "wallet", "no route from etherfi (staking) to wallet (wallet)"),
        ("binance", "binance", "binance → binance: the source is the destination"),
        ("kraken", "binance", "unknown venue 'kraken'; known: aave_v3, binance, bybit, etherfi, lido, okx, uniswap, wallet"),
    ],
)  # fmt: skip
def test_unknown_routes_raise(planner: TransferPlanner, source: str, destination: str, message: str) -> None:
    with pytest.raises(UnsupportedRoute, match=exactly(message)):
        planner.plan(source, destination, 10_000.0)


def test_an_asset_other_than_the_routes_raises(planner: TransferPlanner) -> None:
    with pytest.raises(UnsupportedRoute, match=exactly("aave_v3 → bybit moves USDT, not ETH")):
        planner.plan("aave_v3", "bybit", 10_000.0, asset="ETH", health=SAFE_LTV)


def test_missing_figures_raise(planner: TransferPlanner, costs: TransferCosts) -> None:
    with pytest.raises(
        MissingFigure, match=exactly("no health of aave_v3: a lending source needs a LendingHealth")
    ):
        planner.plan("aave_v3", "bybit", 10_000.0)
    with pytest.raises(
        MissingFigure, match=exactly("no health of binance: a cex source needs a MarginHealth")
    ):
        planner.plan("binance", "okx", 10_000.0)
    with pytest.raises(
        TransferPlanError, match=exactly("binance is a cex source: its health is a MarginHealth")
    ):
        planner.plan("binance", "okx", 10_000.0, health=SAFE_LTV)
    with pytest.raises(
        TransferPlanError, match=exactly("wallet is a wallet source: it has no limit to check")
    ):
        planner.plan("wallet", "okx", 10_000.0, health=SAFE_MARGIN)
    no_yield = TransferPlanner(replace(costs, yields={k: v for k, v in YIELDS.items() if k != "etherfi"}))
    with pytest.raises(MissingFigure, match=exactly("no yield of etherfi")):
        no_yield.plan("etherfi", "binance", 10_000.0)
    no_price = TransferPlanner(replace(costs, prices_usd={"ETH": 3_000.0, "USDT": 1.0}))
    with pytest.raises(MissingFigure, match=exactly("no price of weETH")):
        no_price.plan("etherfi", "aave_v3", 10_000.0)


# --- refusals -------------------------------------------------------------------------------------


def test_sizes_outside_the_limits_are_refused_with_their_numbers(planner: TransferPlanner) -> None:
    assert planner.plan("wallet", "bybit", 5_000.0).accepted  # the limits themselves are allowed
    assert planner.plan("wallet", "bybit", 100_000.0).accepted
    small = planner.plan("wallet", "bybit", 4_999.0)
    assert small.refused == "4999.00 USD below the minimum transfer 5000.00 USD"
    assert (small.accepted, small.steps) == (False, ())
    assert small.cost.gas_usd == approx(65_000 * GAS_UNIT_USD)  # still priced
    large = planner.plan("wallet", "bybit", 100_001.0)
    assert large.refused == "100001.00 USD above the maximum transfer 100000.00 USD"
    assert large.steps == ()
    assert large.describe() == "refused: 100001.00 USD above the maximum transfer 100000.00 USD"
    custom = TransferPlanner(planner.costs, min_usd=100.0, max_usd=1_000.0)
    assert custom.plan("wallet", "bybit", 500.0).accepted
    with pytest.raises(ValueError, match=exactly("max_usd must be finite and >= 100, got 50.0")):
        TransferPlanner(planner.costs, min_usd=100.0, max_usd=50.0)
    with pytest.raises(ValueError, match=exactly("amount_usd must be finite and > 0, got -1.0")):
        planner.plan("wallet", "bybit", -1.0)


def test_a_transfer_its_fees_eat_is_refused(costs: TransferCosts) -> None:
    tiny = TransferPlanner(costs, min_usd=0.0)
    plan = tiny.plan("binance", "okx", 3.0, health=SAFE_MARGIN)
    assert plan.refused == "fees and conversion 3.00 USD eat the whole 3.00 USD"
    assert plan.steps == ()


def test_aave_withdrawal_above_the_max_ltv_is_refused(planner: TransferPlanner) -> None:
    """Debt 75,000 on 100,000 of collateral: withdrawing 20,000 leaves LTV 75,000 / 80,000 = 0.9375."""
    health = LendingHealth(collateral_usd=100_000.0, debt_usd=75_000.0, max_ltv=0.85)
    plan = planner.plan("aave_v3", "bybit", 20_000.0, health=health)
    assert plan.refused == (
        "aave_v3: LTV after the withdrawal 0.9375 above the maximum 0.8500 "
        "(collateral 100000.00 USD, debt 75000.00 USD, withdrawn 20000.00 USD)"
    )
    assert plan.steps == ()
    # 10,000 leaves 75,000 / 90,000 = 0.8333: allowed
    assert planner.plan("aave_v3", "bybit", 10_000.0, health=health).accepted
    beyond = planner.plan("aave_v3", "bybit", 20_000.0, health=replace(health, collateral_usd=15_000.0))
    assert beyond.refused == "aave_v3: withdraws 20000.00 USD, more than the collateral 15000.00 USD"


def test_cex_withdrawal_below_the_margin_floor_is_refused(planner: TransferPlanner) -> None:
    """Equity 30,000 on 100,000 of notional: withdrawing 10,000 leaves a margin ratio of 0.20."""
    health = MarginHealth(equity_usd=30_000.0, notional_usd=100_000.0, min_ratio=0.25)
    plan = planner.plan("bybit", "okx", 10_000.0, health=health)
    assert plan.refused == (
        "bybit: margin ratio after the withdrawal 0.2000 below the floor 0.2500 "
        "(equity 30000.00 USD, notional 100000.00 USD, withdrawn 10000.00 USD)"
    )
    assert plan.steps == ()
    assert planner.plan("bybit", "okx", 5_000.0, health=health).accepted  # leaves 0.25
    no_perps = MarginHealth(equity_usd=8_000.0, notional_usd=0.0, min_ratio=0.25)
    assert planner.plan("bybit", "wallet", 8_000.0, asset="USDT", health=no_perps).accepted
    over = planner.plan("bybit", "wallet", 9_000.0, asset="USDT", health=no_perps)
    assert over.refused == "bybit: withdraws 9000.00 USD, more than the equity 8000.00 USD"


def test_the_size_is_checked_before_the_source(planner: TransferPlanner) -> None:
    health = LendingHealth(collateral_usd=1_000.0, debt_usd=900.0, max_ltv=0.85)
    plan = planner.plan("aave_v3", "bybit", 1_000.0, health=health)
    assert plan.refused == "1000.00 USD below the minimum transfer 5000.00 USD"


def test_plans_are_deterministic(planner: TransferPlanner) -> None:
    first = planner.plan("etherfi", "binance", 12_345.0)
    assert planner.plan("etherfi", "binance", 12_345.0) == first
    assert [type(s.action) for s in first.steps] == [Swap, Transfer]
