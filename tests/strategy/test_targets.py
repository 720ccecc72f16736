"""Each mode's target for given equity and prices, and the orders one step sends toward it."""

from __future__ import annotations

import msgspec
import pytest
from strategyutil import btc_params, detached, eth_params, lending_params, prices, view

from basis.bus.messages import Action, PerpTrade, SpotTrade, Supply, Transfer, Withdraw
from basis.components.router.actions import DEFAULT_ACTIONS
from basis.components.strategy import (
    BtcBasisStrategy,
    EthBasisStrategy,
    PureLendingStrategy,
    derive_margin_buffer,
)

approx = pytest.approx
MARKET = {
    "order_type": "market",
    "limit_price": None,
    "time_in_force": "gtc",
    "take_profit": None,
    "stop_loss": None,
}
"""The order fields every plan leaves at their defaults: market orders, no take-profit or stop-loss."""


def orders(items: list[Action]) -> list[tuple[str, dict[str, object]]]:
    """Each action as its type name and fields, without the order fields at their :data:`MARKET` defaults
    (a field set to anything else stays, and fails the comparison)."""
    return [
        (
            type(a).__name__,
            {k: v for k, v in msgspec.structs.asdict(a).items() if k not in MARKET or v != MARKET[k]},
        )
        for a in items
    ]


def transfers(items: list[Action]) -> list[Transfer]:
    """The transfers among ``items``."""
    return [a for a in items if isinstance(a, Transfer)]


# --- btc_basis ------------------------------------------------------------------------------------


def test_btc_basis_target_sizes_spot_and_perps_at_equity_over_one_plus_margin() -> None:
    strategy = detached(BtcBasisStrategy, btc_params(), prices(btc=50_000.0))
    v = view(strategy, {"wallet:BaseToken:USDT": 125_000.0})
    target = strategy.target(v, v.deployable_usd)
    # S = 125,000 / 1.25 = 100,000 USDT of spot = 2 BTC; margin 0.25 × notional per venue
    assert target.positions == {
        "binance:BaseToken:BTC": 2.0,
        "binance:Perp:BTCUSDT": -0.8,
        "bybit:Perp:BTCUSDT": -0.6,
        "okx:Perp:BTCUSDT": -0.6,
        "binance:BaseToken:USDT": 10_000.0,
        "bybit:BaseToken:USDT": 7_500.0,
        "bybit:BaseToken:BTC": 0.0,
        "okx:BaseToken:USDT": 7_500.0,
        "okx:BaseToken:BTC": 0.0,
        "wallet:BaseToken:USDT": 0.0,
        "wallet:BaseToken:BTC": 0.0,
    }
    assert target.legs == {
        "binance:BaseToken:BTC",
        "binance:Perp:BTCUSDT",
        "bybit:Perp:BTCUSDT",
        "okx:Perp:BTCUSDT",
    }
    assert sum(abs(q) * 50_000.0 for k, q in target.positions.items() if "Perp" in k) == 100_000.0


def test_btc_basis_target_nets_out_withdrawals_and_covers_unrealised_losses() -> None:
    strategy = detached(BtcBasisStrategy, btc_params(), prices(btc=50_000.0))
    v = view(
        strategy,
        {
            "wallet:BaseToken:USDT": 25_000.0,
            "bybit:BaseToken:USDT": 100_000.0,
            "bybit:Perp:BTCUSDT": -0.5,
            "bybit:PerpNotional:BTCUSDT": 24_000.0,  # shorted at 48,000: 1,000 unrealised loss at 50,000
        },
        withdrawing=25_000.0,
    )
    assert v.equity_usd == 124_000.0
    target = strategy.target(v, v.deployable_usd)
    size = 99_000.0 / 1.25 / 50_000.0
    assert target.get("binance:BaseToken:BTC") == approx(size)
    assert target.get("bybit:BaseToken:USDT") == approx(0.25 * 0.3 * size * 50_000.0 + 1_000.0)
    assert target.get("wallet:BaseToken:USDT") == 25_000.0


def test_a_proxy_perp_mark_sets_that_venues_margin() -> None:
    book = prices(btc=50_000.0, basis=0.01)  # every perp 1 % over spot
    strategy = detached(BtcBasisStrategy, btc_params(), book)
    v = view(strategy, {"wallet:BaseToken:USDT": 125_000.0})
    target = strategy.target(v, v.deployable_usd)
    assert target.get("okx:BaseToken:USDT") == approx(0.25 * 0.6 * 50_500.0)


def test_btc_basis_entry_funds_the_venues_first_then_trades() -> None:
    strategy = detached(BtcBasisStrategy, btc_params(fee_buffer=0.002), prices(btc=50_000.0))
    funded = view(strategy, {"wallet:BaseToken:USDT": 125_000.0})
    step1 = strategy.plan(funded, strategy.target(funded, funded.deployable_usd), reduce_only=False)
    # binance needs its margin and the spot purchase with the fee buffer (2 BTC × 50,000 × 1.002); the
    # wallet holds 125,000 for 125,200 of needs, shared pro rata
    share = 125_000.0 / 125_200.0
    assert orders(step1) == [
        (
            "Transfer",
            {
                "source": "wallet",
                "destination": "binance",
                "asset": "USDT",
                "amount": approx(110_200.0 * share),
            },
        ),
        (
            "Transfer",
            {"source": "wallet", "destination": "bybit", "asset": "USDT", "amount": approx(7_500.0 * share)},
        ),
        (
            "Transfer",
            {"source": "wallet", "destination": "okx", "asset": "USDT", "amount": approx(7_500.0 * share)},
        ),
    ]
    assert all(
        type(o) in DEFAULT_ACTIONS for o in step1
    )  # all routable: the strategy sends them to the router

    arrived = view(strategy, {f"{o.destination}:BaseToken:USDT": o.amount for o in transfers(step1)})
    step2 = strategy.plan(arrived, strategy.target(arrived, arrived.deployable_usd), reduce_only=False)
    bought = (110_200.0 * share - 10_000.0) / (50_000.0 * 1.002)  # what binance holds beyond its margin
    assert bought == approx(1.99648, abs=1e-5)
    assert orders(step2) == [
        ("SpotTrade", {"symbol": "BTCUSDT", "side": "buy", "quantity": approx(bought)}),
        (
            "PerpTrade",
            {"symbol": "BTCUSDT", "side": "sell", "quantity": approx(bought), "reduce_only": False},
        ),
    ]


def test_the_hedge_waits_for_every_venues_margin_and_spot_never_runs_ahead_of_it() -> None:
    strategy = detached(BtcBasisStrategy, btc_params(), prices(btc=50_000.0))
    partly = view(
        strategy,
        {
            "binance:BaseToken:USDT": 110_000.0,
            "bybit:BaseToken:USDT": 7_500.0,
            "wallet:BaseToken:USDT": 7_500.0,
        },
    )
    step = strategy.plan(partly, strategy.target(partly, partly.deployable_usd), reduce_only=False)
    # okx has no margin yet: no hedge, so no spot either; the wallet funds okx (binance's fee buffer, a
    # fraction of a percent of what binance holds, is not worth a transfer of its own)
    assert [(type(o), o.source, o.destination) for o in step] == [  # type: ignore[attr-defined]
        (Transfer, "wallet", "okx"),
    ]
    exact = detached(BtcBasisStrategy, btc_params(transfer_band=0.0), prices(btc=50_000.0))
    every = exact.plan(partly, exact.target(partly, partly.deployable_usd), reduce_only=False)
    assert [(type(o), o.source, o.destination) for o in every] == [  # type: ignore[attr-defined]
        (Transfer, "wallet", "binance"),
        (Transfer, "wallet", "okx"),
    ]


def balanced_btc_book(size: float = 2.0, price: float = 50_000.0) -> dict[str, float]:
    """Spot ``size`` BTC on binance, the short split 40/30/30, each venue holding margin 0.25 × notional."""
    book = {"binance:BaseToken:BTC": size}
    for venue, share in (("binance", 0.4), ("bybit", 0.3), ("okx", 0.3)):
        book[f"{venue}:BaseToken:USDT"] = 0.25 * share * size * price
        book[f"{venue}:Perp:BTCUSDT"] = -share * size
        book[f"{venue}:PerpNotional:BTCUSDT"] = share * size * price
    return book


def test_a_small_drift_of_a_venues_cash_waits_until_it_is_worth_a_transfer() -> None:
    """Every transfer pays gas or a withdrawal fee: cash moves once a venue is ``transfer_band`` off what it
    should hold, or whatever the drift while investors are owed a withdrawal."""
    strategy = detached(BtcBasisStrategy, btc_params(transfer_band=0.1), prices(btc=50_000.0))

    def moves(book: dict[str, float], withdrawing: float = 0.0) -> list[tuple[str, str, float]]:
        v = view(strategy, book, withdrawing=withdrawing)
        step = strategy.plan(v, strategy.target(v, v.deployable_usd), reduce_only=False)
        return [(o.source, o.destination, o.amount) for o in transfers(step)]

    balanced = balanced_btc_book()
    assert moves(balanced) == []
    # 500 USDT of okx's 7,500 on bybit: 6.7 % off on both, not worth a transfer
    drifted = dict(balanced, **{"bybit:BaseToken:USDT": 8_000.0, "okx:BaseToken:USDT": 7_000.0})
    assert moves(drifted) == []
    # 1,000: 13 % off, bybit sends its surplus to the wallet (the wallet forwards it once it arrives)
    far = dict(balanced, **{"bybit:BaseToken:USDT": 8_500.0, "okx:BaseToken:USDT": 6_500.0})
    assert moves(far) == [("bybit", "wallet", approx(1_000.0))]
    # a withdrawal owed: every surplus goes to the wallet, however small
    strategy.withdrawals.request("withdrawal-1", 100.0)
    assert ("bybit", "wallet") in [(s, d) for s, d, _ in moves(drifted, withdrawing=100.0)]


def test_btc_basis_price_rise_sells_spot_buys_back_perps_and_frees_collateral() -> None:
    strategy = detached(BtcBasisStrategy, btc_params(), prices(btc=55_000.0))
    held = {
        "binance:BaseToken:BTC": 2.0,
        "binance:BaseToken:USDT": 10_000.0,
        "bybit:BaseToken:USDT": 7_500.0,
        "okx:BaseToken:USDT": 7_500.0,
        "binance:Perp:BTCUSDT": -0.8,
        "binance:PerpNotional:BTCUSDT": 40_000.0,
        "bybit:Perp:BTCUSDT": -0.6,
        "bybit:PerpNotional:BTCUSDT": 30_000.0,
        "okx:Perp:BTCUSDT": -0.6,
        "okx:PerpNotional:BTCUSDT": 30_000.0,
    }
    v = view(strategy, held)
    assert v.equity_usd == 125_000.0  # delta neutral
    # every venue lost 10 % of its notional: margin ratio (0.25 − 0.1) / 1.1 = 0.136 < warning 0.2
    margin = [t for t in strategy.rebalance_triggers(v) if t.label == "margin"]
    assert [t.detail.split()[0] for t in margin] == ["binance", "bybit", "okx"]
    target = strategy.target(v, v.deployable_usd)
    size = 100_000.0 / 55_000.0
    assert target.get("binance:BaseToken:BTC") == approx(size)
    step = strategy.plan(v, target, reduce_only=False)
    assert orders(step)[:2] == [
        ("SpotTrade", {"symbol": "BTCUSDT", "side": "sell", "quantity": approx(2.0 - size)}),
        (
            "PerpTrade",
            {"symbol": "BTCUSDT", "side": "buy", "quantity": approx(2.0 - size), "reduce_only": True},
        ),
    ]
    assert all(type(o) is not Transfer for o in step)  # nothing to move before the sale's proceeds arrive


def test_margin_warning_triggers_a_rebalance() -> None:
    strategy = detached(BtcBasisStrategy, btc_params(margin_warning=0.2), prices(btc=55_000.0))
    v = view(
        strategy,
        {"bybit:BaseToken:USDT": 7_500.0, "bybit:Perp:BTCUSDT": -0.6, "bybit:PerpNotional:BTCUSDT": 30_000.0},
    )
    # (7,500 + 30,000 − 33,000) / 33,000 = 0.136
    [trigger] = [t for t in strategy.rebalance_triggers(v) if t.label == "margin"]
    assert (trigger.label, trigger.detail) == ("margin", "bybit margin ratio 0.1364 below 0.225")


def test_freed_collateral_goes_through_the_wallet_to_the_venues_short_of_margin() -> None:
    strategy = detached(BtcBasisStrategy, btc_params(), prices(btc=55_000.0))
    size = 100_000.0 / 55_000.0
    sold = 2.0 - size
    after_sale: dict[str, float] = {"binance:BaseToken:BTC": size}
    for venue, share, cash in (
        ("binance", 0.4, 10_000.0 + sold * 55_000.0),
        ("bybit", 0.3, 7_500.0),
        ("okx", 0.3, 7_500.0),
    ):
        # perps bought back at 55,000: the realised loss was swept into the venue's USDT
        after_sale[f"{venue}:BaseToken:USDT"] = cash - share * sold * 5_000.0
        after_sale[f"{venue}:Perp:BTCUSDT"] = -share * size
        after_sale[f"{venue}:PerpNotional:BTCUSDT"] = share * size * 50_000.0
    v = view(strategy, after_sale)
    assert v.equity_usd == approx(125_000.0)
    step = strategy.plan(v, strategy.target(v, v.deployable_usd), reduce_only=False)
    [out] = orders(step)
    # binance keeps 0.25 × its notional plus its unrealised loss, and sends the rest
    assert out == (
        "Transfer",
        {"source": "binance", "destination": "wallet", "asset": "USDT", "amount": approx(6_000.0)},
    )

    in_wallet = dict(after_sale)
    in_wallet["binance:BaseToken:USDT"] -= 6_000.0
    in_wallet["wallet:BaseToken:USDT"] = 6_000.0
    v2 = view(strategy, in_wallet)
    step2 = strategy.plan(v2, strategy.target(v2, v2.deployable_usd), reduce_only=False)
    assert orders(step2) == [
        (
            "Transfer",
            {"source": "wallet", "destination": "bybit", "asset": "USDT", "amount": approx(3_000.0)},
        ),
        ("Transfer", {"source": "wallet", "destination": "okx", "asset": "USDT", "amount": approx(3_000.0)}),
    ]
    done = dict(in_wallet, **{"wallet:BaseToken:USDT": 0.0})
    done["bybit:BaseToken:USDT"] += 3_000.0
    done["okx:BaseToken:USDT"] += 3_000.0
    v3 = view(strategy, done)
    assert strategy.plan(v3, strategy.target(v3, v3.deployable_usd), reduce_only=False) == []
    assert all(strategy.margin_ratio(v3, venue) == approx(0.25) for venue in ("binance", "bybit", "okx"))


def test_reduce_only_plan_cuts_both_legs_and_moves_nothing() -> None:
    strategy = detached(BtcBasisStrategy, btc_params(), prices(btc=50_000.0))
    held = {
        "binance:BaseToken:BTC": 2.0,
        "binance:BaseToken:USDT": 10_000.0,
        "binance:Perp:BTCUSDT": -0.8,
        "binance:PerpNotional:BTCUSDT": 40_000.0,
        "bybit:Perp:BTCUSDT": -0.6,
        "bybit:PerpNotional:BTCUSDT": 30_000.0,
        "okx:Perp:BTCUSDT": -0.6,
        "okx:PerpNotional:BTCUSDT": 30_000.0,
        "wallet:BaseToken:USDT": 50_000.0,  # cash that a normal step would deploy
    }
    v = view(strategy, held)
    reduced = strategy.target(v, strategy.deployed_usd(v) * 0.75)
    assert reduced.get("binance:BaseToken:BTC") == approx(1.5)
    step = strategy.plan(v, reduced, reduce_only=True)
    assert orders(step) == [
        ("SpotTrade", {"symbol": "BTCUSDT", "side": "sell", "quantity": approx(0.5)}),
        ("PerpTrade", {"symbol": "BTCUSDT", "side": "buy", "quantity": approx(0.5), "reduce_only": True}),
    ]
    grow = strategy.target(v, v.deployable_usd)  # a bigger target is clipped to nothing under reduce-only
    assert strategy.plan(v, grow, reduce_only=True) == []


# --- eth_basis ------------------------------------------------------------------------------------


def test_eth_basis_target_in_eth_share_class() -> None:
    strategy = detached(EthBasisStrategy, eth_params(), prices(eth=2_000.0))
    v = view(strategy, {"wallet:BaseToken:ETH": 125.0})
    assert (v.equity, v.equity_usd) == (125.0, 250_000.0)
    target = strategy.target(v, v.deployable_usd)
    assert target.positions == {
        "binance:BaseToken:ETH": 100.0,
        "binance:Perp:ETHUSDT": -40.0,
        "bybit:Perp:ETHUSDT": -30.0,
        "okx:Perp:ETHUSDT": -30.0,
        "binance:BaseToken:USDT": 20_000.0,
        "bybit:BaseToken:USDT": 15_000.0,
        "bybit:BaseToken:ETH": 0.0,
        "okx:BaseToken:USDT": 15_000.0,
        "okx:BaseToken:ETH": 0.0,
        "wallet:BaseToken:USDT": 0.0,
        "wallet:BaseToken:ETH": 0.0,
    }


def test_eth_basis_entry_moves_the_eth_then_sells_part_for_margin_then_hedges() -> None:
    strategy = detached(EthBasisStrategy, eth_params(), prices(eth=2_000.0))
    start = view(strategy, {"wallet:BaseToken:ETH": 125.0})
    assert orders(strategy.plan(start, strategy.target(start, start.deployable_usd), reduce_only=False)) == [
        ("Transfer", {"source": "wallet", "destination": "binance", "asset": "ETH", "amount": approx(125.0)}),
    ]
    at_binance = view(strategy, {"binance:BaseToken:ETH": 125.0})
    assert orders(
        strategy.plan(at_binance, strategy.target(at_binance, at_binance.deployable_usd), reduce_only=False)
    ) == [
        ("SpotTrade", {"symbol": "ETHUSDT", "side": "sell", "quantity": approx(25.0)}),
    ]
    sold = view(strategy, {"binance:BaseToken:ETH": 100.0, "binance:BaseToken:USDT": 50_000.0})
    assert orders(strategy.plan(sold, strategy.target(sold, sold.deployable_usd), reduce_only=False)) == [
        (
            "Transfer",
            {"source": "binance", "destination": "wallet", "asset": "USDT", "amount": approx(30_000.0)},
        ),
    ]
    spread = view(
        strategy,
        {
            "binance:BaseToken:ETH": 100.0,
            "binance:BaseToken:USDT": 20_000.0,
            "bybit:BaseToken:USDT": 15_000.0,
            "okx:BaseToken:USDT": 15_000.0,
        },
    )
    assert orders(
        strategy.plan(spread, strategy.target(spread, spread.deployable_usd), reduce_only=False)
    ) == [
        ("PerpTrade", {"symbol": "ETHUSDT", "side": "sell", "quantity": approx(100.0), "reduce_only": False}),
    ]


def test_eth_basis_withdrawal_keeps_the_eth_owed_in_the_wallet() -> None:
    strategy = detached(EthBasisStrategy, eth_params(), prices(eth=2_000.0))
    v = view(strategy, {"wallet:BaseToken:ETH": 125.0}, withdrawing=25.0)
    target = strategy.target(v, v.deployable_usd)
    assert target.get("binance:BaseToken:ETH") == approx(80.0)
    assert target.get("wallet:BaseToken:ETH") == 25.0
    [transfer] = orders(strategy.plan(v, target, reduce_only=False))
    assert transfer == (
        "Transfer",
        {"source": "wallet", "destination": "binance", "asset": "ETH", "amount": approx(100.0)},
    )


# --- pure_lending_usdt ----------------------------------------------------------------------------


def test_pure_lending_supplies_everything_not_owed_to_investors() -> None:
    strategy = detached(PureLendingStrategy, lending_params())
    v = view(strategy, {"wallet:BaseToken:USDT": 1_000.0, "aave_v3:aToken:aUSDT": 9_000.0}, withdrawing=400.0)
    target = strategy.target(v, v.deployable_usd)
    assert target.positions == {"aave_v3:aToken:aUSDT": 9_600.0, "wallet:BaseToken:USDT": 400.0}
    assert orders(strategy.plan(v, target, reduce_only=False)) == [
        ("Supply", {"asset": "USDT", "amount": 600.0})
    ]
    assert strategy.plan(v, target, reduce_only=True) == []


def test_pure_lending_withdraws_one_for_one() -> None:
    strategy = detached(PureLendingStrategy, lending_params())
    v = view(strategy, {"aave_v3:aToken:aUSDT": 10_000.0}, withdrawing=2_500.0)
    [(kind, fields)] = orders(strategy.plan(v, strategy.target(v, v.deployable_usd), reduce_only=False))
    assert (kind, fields) == ("Withdraw", {"asset": "USDT", "amount": 2_500.0})
    assert Withdraw.__name__ == kind and Supply.__name__ != kind


# --- parameters -----------------------------------------------------------------------------------


def test_margin_buffer_keeps_a_fresh_short_above_the_warning_through_the_headroom_move() -> None:
    m = derive_margin_buffer(0.30, 0.10)
    assert m == approx(0.43)
    x = 0.10
    assert (m - x) / (1 + x) == approx(0.30)


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="must be above margin_warning"):
        btc_params(margin_buffer=0.2, margin_warning=0.3)
    with pytest.raises(ValueError, match=r"transfer_band must be in \[0, 0.2\) .*got 0.2"):
        btc_params(transfer_band=0.2)  # margin_buffer 0.25, warning 0.2: a venue in warning is 20 % short
    with pytest.raises(ValueError, match="at least one venue with a positive weight"):
        btc_params(hedge_allocation={"binance": 0.0})
    with pytest.raises(ValueError, match="share class EUR must be the quote USDT or the asset BTC"):
        btc_params(share_class="EUR")
    with pytest.raises(ValueError, match="btc_basis counts equity in USDT"):
        detached(BtcBasisStrategy, eth_params(asset="BTC", share_class="BTC"))
    with pytest.raises(TypeError, match="PureLendingStrategy takes LendingParams, got BasisParams"):
        detached(PureLendingStrategy, btc_params())
    assert btc_params(hedge_allocation={"binance": 2.0, "okx": 2.0, "bybit": 0.0}).allocation == {
        "binance": 0.5,
        "okx": 0.5,
    }


def test_spot_and_perp_orders_are_the_instruction_types() -> None:
    assert SpotTrade.__name__ == "SpotTrade" and PerpTrade.__name__ == "PerpTrade"
