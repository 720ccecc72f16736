"""Deterministic synthetic data for benchmarks, written in the layout of a data root.

:func:`write_synthetic` writes, per symbol, spot and perp 1-minute bars and 8h funding rates:
``cex/<venue>/<SYMBOL>_spot_1m.csv.gz``, ``cex/<venue>/<SYMBOL>_perp_1m.csv.gz``,
``cex/<venue>/<SYMBOL>_funding.csv``. The spot price is a geometric random walk; the perp trades at a
mean-reverting basis to spot; funding follows the basis. :func:`write_synthetic_gas` adds a gas-price
file, so that a root can hold everything a CEX mode needs (with ``interval_s=3600`` the bar files are
the ones the venue configs name). The same seed and window give byte-identical files, which the
ordinary loaders read like any other root.
"""

from __future__ import annotations

import gzip
import math
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .series import Catalogue, discover
from .times import NS, parse_utc

BUNDLED_START = parse_utc("2024-01-01T00:00:00Z")
BUNDLED_END = parse_utc("2025-07-01T00:00:00Z")
"""Span of the bundled dataset; :func:`benchmark_window` scales it."""
FUNDING_S = 8 * 3_600
MINUTES_PER_YEAR = 525_600


def benchmark_window(factor: int = 10) -> tuple[int, int]:
    """A window ``factor`` times as long as the bundled dataset's, starting where it starts."""
    return BUNDLED_START, BUNDLED_START + factor * (BUNDLED_END - BUNDLED_START)


def _stamp(ts_ns: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=ts_ns // NS)).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_synthetic(
    root: Path,
    *,
    start: int,
    end: int,
    venue: str = "binance",
    symbols: Mapping[str, float] | None = None,
    interval_s: int = 60,
    seed: int = 7,
    annual_vol: float = 0.6,
    compresslevel: int = 1,
) -> Catalogue:
    """Write bars for candles opening in ``[start, end)`` and funding settling in it; return the catalogue.

    ``symbols`` maps each symbol to its starting price (default BTCUSDT 42,000 and ETHUSDT 2,300).
    """
    if interval_s <= 0 or interval_s % 60:
        raise ValueError("interval_s must be a positive whole number of minutes")
    if end <= start:
        raise ValueError("empty window")
    folder = root / "cex" / venue
    folder.mkdir(parents=True, exist_ok=True)
    label = f"{interval_s // 60}m" if interval_s % 3_600 else f"{interval_s // 3_600}h"
    prices = dict(symbols) if symbols is not None else {"BTCUSDT": 42_000.0, "ETHUSDT": 2_300.0}
    for n, (symbol, price) in enumerate(sorted(prices.items())):
        rng = random.Random(seed * 1_000_003 + n)
        _write_symbol(folder, symbol, label, price, rng, start, end, interval_s, annual_vol, compresslevel)
    return discover([root])


def write_synthetic_gas(
    root: Path,
    *,
    start: int,
    end: int,
    chain: str = "ethereum",
    interval_s: int = 3_600,
    seed: int = 7,
    compresslevel: int = 1,
) -> Catalogue:
    """Write ``gas/<chain>_gas_<n>h.csv.gz``: one sampled block per nominal time in ``[start, end)``.

    Like the bundled file, each block is mined a minute before its nominal time (so gas prices arrive at
    their own clock instants); the base fee is a geometric random walk around 20 gwei, the median priority
    fee a lognormal around 0.3 gwei. Returns the catalogue of ``root``.
    """
    if interval_s <= 0 or interval_s % 3_600:
        raise ValueError("interval_s must be a positive whole number of hours")
    if end <= start:
        raise ValueError("empty window")
    folder = root / "gas"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed * 1_000_003 + 977)
    gauss, expo = rng.gauss, math.exp
    step = interval_s * NS
    ts = -(-start // step) * step
    log_fee = math.log(20.0)
    rows: list[str] = []
    path = folder / f"{chain}_gas_{interval_s // 3_600}h.csv.gz"
    with gzip.open(path, "wt", compresslevel=compresslevel, newline="", encoding="utf-8") as out:
        out.write("timestamp,block_timestamp,base_fee_gwei,priority_fee_p50_gwei\n")
        while ts < end:
            log_fee += 0.05 * (math.log(20.0) - log_fee) + gauss(0.0, 0.1)
            priority = 0.3 * expo(gauss(0.0, 0.5))
            rows.append(f"{_stamp(ts)},{ts // NS - 61},{expo(log_fee):.4f},{priority:.4f}\n")
            if len(rows) >= 10_000:
                out.write("".join(rows))
                rows.clear()
            ts += step
        out.write("".join(rows))
    return discover([root])


def _write_symbol(
    folder: Path,
    symbol: str,
    label: str,
    price: float,
    rng: random.Random,
    start: int,
    end: int,
    interval_s: int,
    annual_vol: float,
    compresslevel: int,
) -> None:
    sigma = annual_vol / math.sqrt(MINUTES_PER_YEAR * 60 / interval_s)
    header = "timestamp,open,high,low,close,volume\n"
    step = interval_s * NS
    basis = 0.0005
    basis_sum, basis_n = 0.0, 0
    next_funding = -(-start // (FUNDING_S * NS)) * FUNDING_S * NS
    gauss, expo = rng.gauss, math.exp
    spot_path = folder / f"{symbol}_spot_{label}.csv.gz"
    perp_path = folder / f"{symbol}_perp_{label}.csv.gz"
    with (
        gzip.open(spot_path, "wt", compresslevel=compresslevel, newline="", encoding="utf-8") as spot,
        gzip.open(perp_path, "wt", compresslevel=compresslevel, newline="", encoding="utf-8") as perp,
        (folder / f"{symbol}_funding.csv").open("w", newline="", encoding="utf-8") as funding,
    ):
        spot.write(header)
        perp.write(header)
        funding.write("timestamp,funding_rate\n")
        spot_rows: list[str] = []
        perp_rows: list[str] = []
        day_text, day_end = "", 0
        ts = start
        while ts < end:
            if ts >= day_end:  # format the date once per day
                day_text = _stamp(ts)[:11]
                day_end = ts - ts % (86_400 * NS) + 86_400 * NS
            second = (ts // NS) % 86_400
            stamp = f"{day_text}{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
            open_ = price
            price = open_ * expo(sigma * gauss(0.0, 1.0))
            wick = abs(gauss(0.0, sigma))
            high = max(open_, price) * (1 + wick)
            low = min(open_, price) * (1 - wick)
            volume = 50.0 * expo(gauss(0.0, 0.5))
            basis = 0.999 * basis + 0.001 * 0.0005 + gauss(0.0, 0.00005)
            basis_sum += basis
            basis_n += 1
            b = 1 + basis
            spot_rows.append(f"{stamp},{open_:.2f},{high:.2f},{low:.2f},{price:.2f},{volume:.4f}\n")
            perp_rows.append(
                f"{stamp},{open_ * b:.2f},{high * b:.2f},{low * b:.2f},{price * b:.2f},{volume * 3:.4f}\n"
            )
            if len(spot_rows) >= 10_000:
                spot.write("".join(spot_rows))
                perp.write("".join(perp_rows))
                spot_rows.clear()
                perp_rows.clear()
            ts += step
            while next_funding < end and next_funding <= ts:
                rate = 0.0001 + 0.2 * (basis_sum / basis_n - 0.0005) if basis_n else 0.0001
                funding.write(f"{_stamp(next_funding)},{rate:.8f}\n")
                basis_sum, basis_n = 0.0, 0
                next_funding += FUNDING_S * NS
        spot.write("".join(spot_rows))
        perp.write("".join(perp_rows))
