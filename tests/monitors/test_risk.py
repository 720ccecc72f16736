"""Risk: margin ratios, health factor and LTV, delta drift, levels and breach strings."""

from __future__ import annotations

from basis.bus.messages import ExposureSnapshot
from basis.components.exposure_monitor import value_book
from basis.components.pricing import PriceBook
from basis.components.risk_monitor import LiquidationThresholds, RiskBook, RiskLimits

from .scenario import H, lst, market


def snapshot(
    positions: dict[str, float], btc: float = 64000.0, perp: float = 64000.0, eth: float = 2048.0
) -> tuple[ExposureSnapshot, PriceBook]:
    prices = PriceBook()
    for message in market(H, btc, perp, eth):
        prices.apply(message)
    prices.apply(lst(H, "weETH", 1.0625))
    v = value_book(positions, prices, "USDT")
    return ExposureSnapshot(id="e", ts=H, **v.snapshot_fields()), prices  # type: ignore[arg-type]


def test_margin_ratio_per_cex_with_perps() -> None:
    es, prices = snapshot(
        {
            "binance:BaseToken:USDT": 8000.0,
            "binance:BaseToken:BTC": 1.0,  # spot on the CEX is not margin
            "binance:Perp:BTCUSDT": -1.0,
            "binance:PerpNotional:BTCUSDT": 63000.0,
            "bybit:BaseToken:USDT": 5000.0,  # no perp: no ratio
        },
        perp=64000.0,
    )
    assessment = RiskBook(prices=prices).assess(es)
    assert assessment.margin_ratios == {"binance": (8000.0 + 63000.0 - 64000.0) / 64000.0}
    assert assessment.level == "critical"
    assert assessment.breaches == ("margin_ratio:binance<0.2",)


def test_margin_levels_and_custom_thresholds() -> None:
    es, prices = snapshot(
        {
            "binance:BaseToken:USDT": 16000.0,
            "binance:Perp:BTCUSDT": -1.0,
            "binance:PerpNotional:BTCUSDT": 64000.0,
        }
    )
    default = RiskBook(prices=prices).assess(es)
    assert default.margin_ratios == {"binance": 0.25}
    assert (default.level, default.breaches) == ("warning", ("margin_ratio:binance<0.3",))
    loose = RiskBook(prices=prices, limits=RiskLimits(margin_warning=0.2, margin_critical=0.15)).assess(es)
    assert (loose.level, loose.breaches) == ("ok", ())
    tight = RiskBook(prices=prices, limits=RiskLimits(margin_warning=0.5, margin_critical=0.3)).assess(es)
    assert (tight.level, tight.breaches) == ("critical", ("margin_ratio:binance<0.3",))


AAVE = LiquidationThresholds(
    emode=0.95, standard=0.85, emode_assets=frozenset({"ETH", "WETH", "weETH", "wstETH"})
)
"""The thresholds of configs/venues/aave_v3.yaml."""


def test_health_factor_and_ltv_in_emode() -> None:
    es, prices = snapshot({"aave_v3:aToken:aweETH": 16.0, "aave_v3:debtToken:debtWETH": 15.0})
    a = RiskBook(prices=prices, thresholds=AAVE).assess(es)
    collateral = 16.0 * 1.0625 * 2048.0
    debt = 15.0 * 2048.0
    assert a.health_factor == collateral * 0.95 / debt
    assert a.ltv == debt / collateral
    assert a.level == "critical" and a.breaches == ("health_factor<1.1",)


def test_health_factor_standard_threshold_for_stable_collateral() -> None:
    es, prices = snapshot(
        {"aave_v3:aToken:aUSDT": 10000.0, "aave_v3:aToken:aWETH": 1.0, "aave_v3:debtToken:debtWETH": 2.0}
    )
    a = RiskBook(prices=prices, thresholds=AAVE).assess(es)
    # WETH debt alone would allow eMode, but eMode only lifts ETH-correlated collateral
    assert a.health_factor == (10000.0 * 0.85 + 2048.0 * 0.95) / 4096.0
    es2, _ = snapshot({"aave_v3:aToken:aWETH": 4.0, "aave_v3:debtToken:debtUSDT": 2048.0})
    b = RiskBook(prices=prices, thresholds=LiquidationThresholds(emode=0.95, standard=0.8)).assess(es2)
    assert b.health_factor == 8192.0 * 0.8 / 2048.0 and b.ltv == 0.25 and b.level == "ok"


def test_without_emode_assets_every_collateral_counts_at_the_standard_threshold() -> None:
    """The risk monitor knows no venue: which assets form the eMode category comes from the configuration."""
    es, prices = snapshot({"aave_v3:aToken:aweETH": 16.0, "aave_v3:debtToken:debtWETH": 15.0})
    a = RiskBook(prices=prices).assess(es)
    assert a.health_factor == 16.0 * 1.0625 * 2048.0 * 0.85 / (15.0 * 2048.0)


def test_no_debt_no_health_factor() -> None:
    es, prices = snapshot({"aave_v3:aToken:aUSDT": 100.0})
    a = RiskBook(prices=prices).assess(es)
    assert (a.health_factor, a.ltv, a.level) == (None, 0.0, "ok")
    empty, _ = snapshot({"binance:BaseToken:USDT": 1.0})
    assert RiskBook(prices=prices).assess(empty).health_factor is None
    assert RiskBook(prices=prices).assess(empty).ltv is None


def test_delta_drift_of_hedged_asset() -> None:
    es, prices = snapshot(
        {
            "binance:BaseToken:BTC": 1.0,
            "binance:Perp:BTCUSDT": -0.96875,
            "binance:PerpNotional:BTCUSDT": 62000.0,
            "binance:BaseToken:USDT": 30000.0,
        }
    )
    risk = RiskBook(prices=prices, hedged_asset="BTC")
    a = risk.assess(es)
    assert es.total_usd == 94000.0 and es.net_delta == {"BTC": 0.03125}
    assert a.delta_drift == 0.03125 * 64000.0 / 94000.0
    assert (a.level, a.breaches) == ("ok", ())
    warn = RiskBook(
        prices=prices, hedged_asset="BTC", limits=RiskLimits(drift_warning=0.02, drift_critical=0.05)
    )
    assert (warn.assess(es).level, warn.assess(es).breaches) == ("warning", ("delta_drift:BTC>0.02",))
    tight = RiskBook(
        prices=prices, hedged_asset="BTC", limits=RiskLimits(drift_warning=0.01, drift_critical=0.02)
    )
    assert tight.assess(es).breaches == ("delta_drift:BTC>0.02",) and tight.assess(es).level == "critical"
    assert RiskBook(prices=prices).assess(es).delta_drift == 0.0  # directional modes: no hedged asset


def test_several_breaches_are_listed_in_a_stable_order() -> None:
    es, prices = snapshot(
        {
            "binance:BaseToken:USDT": 1000.0,
            "binance:Perp:BTCUSDT": -1.0,
            "binance:PerpNotional:BTCUSDT": 64000.0,
            "aave_v3:aToken:aweETH": 16.0,
            "aave_v3:debtToken:debtWETH": 13.0,
            "wallet:BaseToken:BTC": 1.5,
        }
    )
    a = RiskBook(prices=prices, hedged_asset="BTC").assess(es)
    assert a.breaches == ("margin_ratio:binance<0.2", "health_factor<1.25", "delta_drift:BTC>0.05")
    assert a.level == "critical"
