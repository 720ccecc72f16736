"""Simulated AAVE v3 through its gateway on a real bus: scaled balances, accrual, LTV, health, liquidation."""

from __future__ import annotations

import pytest
from venueutil import HOUR, Harness, changes

from basis.bus.messages import (
    Borrow,
    ClockTicked,
    InstructionFilled,
    InvestorDeposit,
    Liquidated,
    OraclePrice,
    Repay,
    ReserveState,
    Settled,
    Supply,
    Withdraw,
)
from basis.venues.simulated import RiskParams, SimulatedAave, SimulatedWallet
from basis.venues.simulated.aave import (
    AaveAccount,
    calculate_compounded_interest,
    calculate_linear_interest,
)

approx = pytest.approx
GWEI = 20.0


async def setup(h: Harness, **kwargs: object) -> SimulatedAave:
    aave = await h.start(SimulatedAave, **kwargs)  # type: ignore[arg-type]
    await h.start(SimulatedWallet)
    await h.gas(GWEI)
    return aave


async def fund(h: Harness, asset: str, amount: float) -> None:
    await h.send(InvestorDeposit, asset=asset, amount=amount)


async def test_supply_books_wallet_atoken_and_gas(h: Harness) -> None:
    aave = await setup(h)
    await fund(h, "USDT", 5_000.0)
    await h.reserve("USDT", 1.02, 1.05, 1.0)
    supply = await h.instruct("aave_v3", Supply(asset="USDT", amount=1_000.0))
    fill = h.filled(supply)
    gas = 220_000 * GWEI * 1e-9
    assert changes(fill) == [
        ("wallet:BaseToken:USDT", -1_000.0, 0.0),
        ("aave_v3:aToken:aUSDT", 1_000.0, 0.0),
        ("wallet:BaseToken:ETH", -gas, 0.0),
    ]
    assert fill.gas_eth == gas
    assert aave.account.supplied["USDT"].scaled == 1_000.0 / 1.02
    assert h.book() == {
        "aave_v3:aToken:aUSDT": 1_000.0,
        "wallet:BaseToken:ETH": -gas,  # gas fronted by the operator
        "wallet:BaseToken:USDT": 4_000.0,
    }


async def test_interest_is_scaled_balance_times_index_growth(h: Harness) -> None:
    aave = await setup(h)
    await fund(h, "USDT", 5_000.0)
    await h.reserve("USDT", 1.02, 1.05, 1.0)
    await h.instruct("aave_v3", Supply(asset="USDT", amount=1_000.0))
    await h.reserve("USDT", 1.0302, 1.06, 1.0)
    await h.reserve("USDT", 1.0404, 1.07, 1.0)
    first, second = h.of(Settled)
    scaled = 1_000.0 / 1.02
    assert (first.kind, first.instrument, first.asset, first.venue) == (
        "lending_interest",
        "aave_v3:aToken:aUSDT",
        "USDT",
        "aave_v3",
    )
    assert first.amount == scaled * 1.0302 - 1_000.0  # exactly as the contract says
    assert second.amount == scaled * 1.0404 - scaled * 1.0302
    assert first.amount == approx(10.0) and second.amount == approx(10.0)
    assert aave.balances() == {"aave_v3:aToken:aUSDT": scaled * 1.0404}
    assert h.book("aave_v3:")["aave_v3:aToken:aUSDT"] == approx(scaled * 1.0404, rel=1e-15)

    # a partial withdrawal keeps accruing on what is left
    out = await h.instruct("aave_v3", Withdraw(asset="USDT", amount=510.0))
    assert changes(h.filled(out))[:2] == [
        ("aave_v3:aToken:aUSDT", -510.0, 0.0),
        ("wallet:BaseToken:USDT", 510.0, 0.0),
    ]
    await h.reserve("USDT", 1.0506, 1.08, 1.0)
    assert h.of(Settled)[-1].amount == approx(510.0 * (1.0506 / 1.0404 - 1.0))  # 5.0


async def test_borrow_cost_grows_debt_with_borrow_index(h: Harness) -> None:
    await setup(h)
    await fund(h, "ETH", 10.0)
    await h.reserve("WETH", 1.0, 1.1, 3_000.0)
    await h.reserve("USDT", 1.0, 1.2, 1.0)
    await h.instruct("aave_v3", Supply(asset="ETH", amount=10.0))
    borrow = await h.instruct("aave_v3", Borrow(asset="USDT", amount=20_000.0))
    assert changes(h.filled(borrow))[:2] == [
        ("aave_v3:debtToken:debtUSDT", 20_000.0, 0.0),
        ("wallet:BaseToken:USDT", 20_000.0, 0.0),
    ]
    await h.reserve("USDT", 1.0, 1.212, 1.0)
    (cost,) = h.of(Settled)
    assert (cost.kind, cost.instrument) == ("borrow_cost", "aave_v3:debtToken:debtUSDT")
    assert cost.amount == 20_000.0 / 1.2 * 1.212 - 20_000.0
    assert cost.amount == approx(200.0)


async def test_eth_and_weth_are_one_wallet_balance_and_one_reserve(h: Harness) -> None:
    aave = await setup(h)
    await fund(h, "WETH", 3.0)  # booked on wallet:BaseToken:ETH
    await h.reserve("WETH", 1.0, 1.0, 3_000.0)
    supply = await h.instruct("aave_v3", Supply(asset="WETH", amount=2.0))
    assert changes(h.filled(supply))[:2] == [
        ("wallet:BaseToken:ETH", -2.0, 0.0),
        ("aave_v3:aToken:aWETH", 2.0, 0.0),
    ]
    borrow = await h.instruct("aave_v3", Borrow(asset="ETH", amount=0.5))
    assert changes(h.filled(borrow))[:2] == [
        ("aave_v3:debtToken:debtWETH", 0.5, 0.0),
        ("wallet:BaseToken:ETH", 0.5, 0.0),
    ]
    assert aave.account.supply_balance("ETH") == 2.0 and aave.account.debt_balance("WETH") == 0.5


async def test_borrow_and_withdraw_limited_by_ltv(h: Harness) -> None:
    aave = await setup(h)
    await fund(h, "ETH", 10.0)
    await h.reserve("WETH", 1.0, 1.0, 3_000.0)
    await h.reserve("USDT", 1.0, 1.0, 1.0)
    await h.instruct("aave_v3", Supply(asset="ETH", amount=10.0))  # 30,000 USD, LTV 0.80 -> 24,000
    too_much = await h.instruct("aave_v3", Borrow(asset="USDT", amount=24_001.0))
    ok = await h.instruct("aave_v3", Borrow(asset="USDT", amount=20_000.0))
    assert h.rejected(too_much).reason == "exceeds_ltv" and not h.rejected(too_much).transient
    assert h.filled(ok)
    assert aave.account.ltv() == approx(20_000.0 / 30_000.0)
    assert aave.account.health_factor() == approx(30_000.0 * 0.85 / 20_000.0)

    # withdrawing 2 ETH leaves 24,000 × 0.8 = 19,200 < 20,000
    bad = await h.instruct("aave_v3", Withdraw(asset="ETH", amount=2.0))
    good = await h.instruct("aave_v3", Withdraw(asset="ETH", amount=1.0))
    assert h.rejected(bad).reason == "exceeds_ltv" and h.filled(good)


async def test_rejections(h: Harness) -> None:
    aave = await h.start(SimulatedAave)
    await h.start(SimulatedWallet)
    await fund(h, "USDT", 100.0)
    await h.reserve("USDT", 1.0, 1.0, 1.0)
    no_gas = await h.instruct("aave_v3", Supply(asset="USDT", amount=10.0))
    await h.gas(GWEI)
    no_reserve = await h.instruct("aave_v3", Supply(asset="DAI", amount=10.0))
    short = await h.instruct("aave_v3", Supply(asset="USDT", amount=100.01))
    nothing = await h.instruct("aave_v3", Withdraw(asset="USDT", amount=1.0))
    no_debt = await h.instruct("aave_v3", Repay(asset="USDT", amount=1.0))
    assert [h.rejected(i).reason for i in (no_gas, no_reserve, short, nothing, no_debt)] == [
        "no_gas_price",
        "insufficient_balance",
        "insufficient_balance",
        "insufficient_balance",
        "invalid_quantity",
    ]
    assert aave.balances() == {}


async def test_repay_is_capped_at_the_debt(h: Harness) -> None:
    aave = await setup(h)
    await fund(h, "ETH", 10.0)
    await fund(h, "USDT", 1_000.0)
    await h.reserve("WETH", 1.0, 1.0, 3_000.0)
    await h.reserve("USDT", 1.0, 1.0, 1.0)
    await h.instruct("aave_v3", Supply(asset="ETH", amount=10.0))
    await h.instruct("aave_v3", Borrow(asset="USDT", amount=500.0))
    await h.reserve("USDT", 1.0, 1.01, 1.0)  # debt 505
    repay = await h.instruct("aave_v3", Repay(asset="USDT", amount=10_000.0))
    assert changes(h.filled(repay))[:2] == [
        ("wallet:BaseToken:USDT", approx(-505.0), 0.0),
        ("aave_v3:debtToken:debtUSDT", approx(-505.0), 0.0),
    ]
    assert aave.balances() == {"aave_v3:aToken:aWETH": 10.0}
    assert h.book("aave_v3:") == aave.balances()


async def test_liquidation_when_health_factor_below_one(h: Harness) -> None:
    aave = await setup(h)
    await fund(h, "ETH", 10.0)
    await h.reserve("WETH", 1.0, 1.0, 3_000.0)
    await h.reserve("USDT", 1.0, 1.0, 1.0)
    await h.instruct("aave_v3", Supply(asset="ETH", amount=10.0))
    await h.instruct("aave_v3", Borrow(asset="USDT", amount=20_000.0))

    await h.advance(HOUR)
    await h.reserve("WETH", 1.0, 1.0, 2_400.0)  # HF = 24,000 × 0.85 / 20,000 = 1.02
    await h.advance(HOUR)
    assert not h.of(Liquidated)

    await h.reserve("WETH", 1.0, 1.0, 2_300.0)  # HF = 0.9775
    assert aave.account.health_factor() == approx(0.9775)
    assert not h.of(Liquidated)  # evaluated once the timestamp is complete
    await h.advance(HOUR)
    (liquidation,) = h.of(Liquidated)
    seized = 10_000.0 * 1.05 / 2_300.0
    assert changes(liquidation) == [
        ("aave_v3:debtToken:debtUSDT", approx(-10_000.0), 1.0),
        ("aave_v3:aToken:aWETH", approx(-seized), 2_300.0),
    ]
    assert (liquidation.penalty, liquidation.penalty_asset) == (approx(seized - 10_000.0 / 2_300.0), "WETH")
    assert liquidation.venue == "aave_v3"
    assert aave.account.health_factor() == approx((10.0 - seized) * 2_300.0 * 0.85 / 10_000.0)
    assert h.book("aave_v3:") == {
        "aave_v3:aToken:aWETH": approx(10.0 - seized),
        "aave_v3:debtToken:debtUSDT": approx(10_000.0),
    }
    await h.advance(HOUR)
    assert len(h.of(Liquidated)) == 1  # healthy again


async def test_emode_uses_eth_correlated_parameters_and_lst_oracle_in_eth(h: Harness) -> None:
    aave = await setup(h, emode=True)
    await h.send(InvestorDeposit, asset="weETH", amount=10.0)
    await h.reserve("WETH", 1.0, 1.0, 3_000.0)
    await h.reserve("weETH", 1.0, 1.0, 0.0)  # price from the oracle below
    await h.reserve("USDT", 1.0, 1.0, 1.0)
    await h.send(OraclePrice, venue="aave_v3", asset="weETH", quote="ETH", price=1.05)
    await h.instruct("aave_v3", Supply(asset="weETH", amount=10.0))  # 31,500 USD; eMode LTV 0.93
    assert aave.account.price("weETH") == approx(3_150.0)

    too_much = await h.instruct("aave_v3", Borrow(asset="WETH", amount=9.8))  # 29,400 > 29,295
    usdt = await h.instruct("aave_v3", Borrow(asset="USDT", amount=100.0))
    ok = await h.instruct("aave_v3", Borrow(asset="WETH", amount=9.7))
    assert h.rejected(too_much).reason == "exceeds_ltv"
    assert h.rejected(usdt).reason == "emode_violation"
    assert h.filled(ok)
    assert aave.account.health_factor() == approx(31_500.0 * 0.95 / (9.7 * 3_000.0))
    assert isinstance(h.answer(ok), InstructionFilled)


def test_account_risk_parameters_per_asset() -> None:
    account = AaveAccount(risk={"USDT": RiskParams(0.0, 0.0, 0.0)}, emode=True)
    assert account.params("weETH").ltv == 0.93
    assert account.params("USDT").ltv == 0.0
    assert account.params("DAI").liquidation_threshold == 0.85
    assert AaveAccount().params("weETH").liquidation_bonus == 0.05


# --- accrual between snapshots, as the Pool computes it ------------------------------------------------

YEAR_S = 365 * 86_400  # MathUtils.SECONDS_PER_YEAR


async def snapshot(
    h: Harness, asset: str, index: float, borrow_index: float, rate: float, borrow_rate: float, price: float
) -> ReserveState:
    return await h.send(
        ReserveState,
        venue="aave_v3",
        asset=asset,
        liquidity_index=index,
        variable_borrow_index=borrow_index,
        liquidity_rate=rate,
        variable_borrow_rate=borrow_rate,
        price_usd=price,
    )


def linear(rate: float, seconds: int) -> float:
    """calculateLinearInterest, written out."""
    return 1.0 + rate * seconds / YEAR_S


def binomial(rate: float, seconds: int) -> float:
    """calculateCompoundedInterest, written out: 1 + n·x + n(n−1)/2·x² + n(n−1)(n−2)/6·x³, x = rate / year."""
    n, x = seconds, rate / YEAR_S
    return 1.0 + n * x + n * (n - 1) / 2 * x**2 + n * (n - 1) * (n - 2) / 6 * x**3


async def test_an_intraday_deposit_accrues_from_its_own_hour(h: Harness) -> None:
    aave = await setup(h)
    await fund(h, "USDT", 5_000.0)
    await snapshot(h, "USDT", 1.05, 1.08, 0.05, 0.07, 1.0)  # 00:00
    for _ in range(13):
        await h.advance(HOUR)
    assert not h.of(Settled)  # nothing supplied, nothing published

    supply = await h.instruct("aave_v3", Supply(asset="USDT", amount=1_000.0))  # 13:00
    at_13 = 1.05 * linear(0.05, 13 * 3_600)
    scaled = 1_000.0 / at_13
    assert aave.account.supplied["USDT"].scaled == approx(scaled, rel=1e-15)
    assert changes(h.filled(supply))[1] == ("aave_v3:aToken:aUSDT", 1_000.0, 0.0)

    await h.advance(HOUR)  # 14:00: one hour of interest, not fourteen
    (first,) = h.of(Settled)
    assert (first.kind, first.instrument, first.asset) == ("lending_interest", "aave_v3:aToken:aUSDT", "USDT")
    at_14 = 1.05 * linear(0.05, 14 * 3_600)
    assert first.amount == approx(scaled * at_14 - 1_000.0, rel=1e-9)
    assert first.amount == approx(1_000.0 * 0.05 * 3_600 / YEAR_S / linear(0.05, 13 * 3_600), rel=1e-9)
    assert first.amount == approx(0.005707, abs=1e-6)  # 1,000 × 5 % for one hour
    assert aave.account.supply_balance("USDT") == approx(scaled * at_14, rel=1e-15)

    for _ in range(9):  # 15:00 .. 23:00: one accrual each hour
        await h.advance(HOUR)
    assert len(h.of(Settled)) == 10
    at_23 = 1.05 * linear(0.05, 23 * 3_600)
    assert sum(s.amount for s in h.of(Settled)) == approx(scaled * at_23 - 1_000.0, rel=1e-9)

    # the next snapshot's index wins: the difference to the computed one is booked as interest
    await h.advance(HOUR)  # 24:00, the tick's accrual, then the snapshot of the same time
    state = await snapshot(h, "USDT", 1.0502, 1.0803, 0.04, 0.06, 1.0)
    correction = h.of(Settled)[-1]
    assert correction.causation_id == state.id
    assert correction.amount == approx(scaled * (1.0502 - 1.05 * linear(0.05, 86_400)), rel=1e-9)
    assert sum(s.amount for s in h.of(Settled)) == approx(scaled * 1.0502 - 1_000.0, rel=1e-12)
    assert aave.balances() == {"aave_v3:aToken:aUSDT": approx(scaled * 1.0502, rel=1e-15)}
    assert h.book("aave_v3:") == {"aave_v3:aToken:aUSDT": approx(scaled * 1.0502, rel=1e-15)}


async def test_debt_compounds_with_the_binomial_expansion_and_repay_uses_its_own_time(h: Harness) -> None:
    aave = await setup(h, accrual_interval_s=6 * 3_600.0)
    await fund(h, "ETH", 10.0)
    await fund(h, "USDT", 100.0)
    await snapshot(h, "WETH", 1.0, 1.0, 0.0, 0.0, 3_000.0)
    await snapshot(h, "USDT", 1.04, 1.2, 0.08, 0.40, 1.0)  # 00:00
    await h.instruct("aave_v3", Supply(asset="ETH", amount=10.0))
    await h.advance(3 * HOUR)
    await h.instruct("aave_v3", Borrow(asset="USDT", amount=10_000.0))  # 03:00
    scaled = 10_000.0 / (1.2 * binomial(0.40, 3 * 3_600))
    assert aave.account.debt["USDT"].scaled == approx(scaled, rel=1e-15)

    await h.advance(3 * HOUR)  # 06:00, the first tick of a 6-hour accrual period
    (cost,) = h.of(Settled)
    assert (cost.kind, cost.instrument) == ("borrow_cost", "aave_v3:debtToken:debtUSDT")
    assert cost.amount == approx(scaled * 1.2 * binomial(0.40, 6 * 3_600) - 10_000.0, rel=1e-9)
    exact = 10_000.0 * (1.0 + 0.40 / YEAR_S) ** (3 * 3_600) - 10_000.0  # the exact power pays a hair more
    assert 0.0 < exact - cost.amount < 1e-6 and cost.amount == approx(exact, rel=1e-6)

    await h.advance(HOUR)  # 07:00: inside the period, nothing published
    assert len(h.of(Settled)) == 1
    # a repay in the middle of the period first books the debt up to its own time, then repays all of it
    repay = await h.instruct("aave_v3", Repay(asset="USDT", amount=20_000.0))
    owed = scaled * 1.2 * binomial(0.40, 7 * 3_600)
    assert h.of(Settled)[-1].causation_id == repay.id
    assert h.of(Settled)[-1].amount == approx(owed - scaled * 1.2 * binomial(0.40, 6 * 3_600), rel=1e-9)
    assert changes(h.filled(repay))[:2] == [
        ("wallet:BaseToken:USDT", approx(-owed, rel=1e-12), 0.0),
        ("aave_v3:debtToken:debtUSDT", approx(-owed, rel=1e-12), 0.0),
    ]
    await h.advance(6 * HOUR)
    assert len(h.of(Settled)) == 2  # nothing left to accrue
    assert h.book("aave_v3:") == {"aave_v3:aToken:aWETH": 10.0}


async def test_health_factor_and_liquidation_use_the_accrued_debt(h: Harness) -> None:
    aave = await setup(h)
    await fund(h, "ETH", 10.0)
    await snapshot(h, "WETH", 1.0, 1.0, 0.0, 0.0, 3_000.0)
    await snapshot(h, "USDT", 1.0, 1.0, 0.0, 1.0, 1.0)  # 100 % a year on variable debt
    await h.instruct("aave_v3", Supply(asset="ETH", amount=10.0))
    await h.instruct("aave_v3", Borrow(asset="USDT", amount=24_000.0))  # HF = 25,500 / 24,000
    await h.advance(HOUR)
    assert not h.of(Liquidated)

    days = 30 * 86_400  # no new snapshot: the debt compounds from the last one's rate
    h.clock.advance_to(h.clock.now_ns() + days * 1_000_000_000 - HOUR)
    await h.send(ClockTicked)
    debt = 24_000.0 * binomial(1.0, days)
    assert debt > 25_500.0
    assert h.of(Settled)[-1].amount == approx(debt - 24_000.0 * binomial(1.0, 3_600), rel=1e-9)
    (liquidation,) = h.of(Liquidated)
    repaid = 0.5 * debt
    assert changes(liquidation) == [
        ("aave_v3:debtToken:debtUSDT", approx(-repaid, rel=1e-12), 1.0),
        ("aave_v3:aToken:aWETH", approx(-repaid * 1.05 / 3_000.0, rel=1e-12), 3_000.0),
    ]
    assert aave.account.health_factor() == approx(
        (10.0 - repaid * 1.05 / 3_000.0) * 3_000.0 * 0.85 / (debt - repaid), rel=1e-12
    )


def test_the_pool_interest_formulas() -> None:
    assert calculate_linear_interest(0.05, YEAR_S) == 1.05
    assert calculate_compounded_interest(0.05, 0) == 1.0
    assert calculate_compounded_interest(0.05, 1) == 1.0 + 0.05 / YEAR_S
    assert calculate_compounded_interest(0.05, 2) == approx((1.0 + 0.05 / YEAR_S) ** 2, rel=1e-16)
    # over a year the three terms fall short of e^0.05 by the missing fourth and later terms
    year = calculate_compounded_interest(0.05, YEAR_S)
    assert year == approx(1.0 + 0.05 + 0.05**2 / 2 + 0.05**3 / 6, rel=1e-9)
    assert 0.0 < (1.0 + 0.05 / YEAR_S) ** YEAR_S - year < 0.05**4 / 24 * 1.01
