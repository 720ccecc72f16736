"""Marks across holes do not invent PnL: on every day Binance's bars are missing, Binance spot and perp
are marked to Bybit's, so the hedged btc_basis book (long Binance spot, short perps on three venues)
shows no price PnL that the data does not hold.

The holes are found in the shipped CSV file with the ``csv`` module; btc_basis runs in process on a
short window around each one, and the price attribution at every valuation is rebuilt from the run's
log with the PnL monitor's own ledger (:class:`PnlProjection`).
"""

from __future__ import annotations

import asyncio
from itertools import pairwise
from pathlib import Path

import pytest
from backtestutil import HOUR_NS, Closes, read_log, sqlite_url, utc_ns

from basis.backtest import Backtest, BacktestRequest
from basis.bus.messages import InstructionFilled, PnlSnapshot, RunStarted
from basis.components.feed import iso
from basis.components.pricing import PriceBook
from basis.projections.pnl import PnlProjection

DAY_NS = 24 * HOUR_NS
WINDOW = (utc_ns("2024-05-01"), utc_ns("2025-07-01"))
"""btc_basis's bundled window (summary.json → window)."""
MAX_MOVE = 0.0005
"""The most the hedged book's price attribution may move across a hole, as a fraction of equity."""


def binance_holes() -> list[tuple[int, int]]:
    """``(last close before, first close after)`` of every hole of Binance's BTCUSDT spot bars in the window."""
    times = Closes("cex/binance/BTCUSDT_spot_1h.csv.gz").times
    holes = [(a, b) for a, b in pairwise(times) if b - a > HOUR_NS]
    return [(a, b) for a, b in holes if WINDOW[0] <= a and b < WINDOW[1]]


HOLES = binance_holes()


def test_the_window_has_the_binance_holes_the_data_readme_describes() -> None:
    assert len(HOLES) == 11  # a day about every 41 days over 14 months
    assert all(b - a == DAY_NS for a, b in HOLES)


@pytest.mark.parametrize(("before", "after"), HOLES, ids=[iso(a)[:10] for a, _ in HOLES])
def test_price_attribution_stays_flat_across_a_binance_hole(tmp_path: Path, before: int, after: int) -> None:
    start = max(WINDOW[0], before - 6 * HOUR_NS)
    request = BacktestRequest(
        mode="btc_basis", start=start, end=after + 2 * HOUR_NS, out=tmp_path / "out", report=False
    )
    summary = asyncio.run(Backtest(request).run())

    marked = {
        (rule["series"], rule["marks_to"])
        for rule in summary["gap_rules"]
        if rule["start"] == iso(before) and rule["end"] == iso(after)
    }
    assert marked == {
        ("bar:binance:BTCUSDT:spot", "bar:bybit:BTCUSDT:spot"),
        ("bar:binance:BTCUSDT:perp", "bar:bybit:BTCUSDT:perp"),
    }

    # Every valuation, rebuilt from the log with the PnL monitor's ledger (the log keeps every fact but
    # may keep only some of the monitors' snapshots); each snapshot the log does keep must agree.
    store = sqlite_url(tmp_path / "out" / "events.sqlite")
    log = [m for _, subject, m in read_log(store, summary["run_id"]) if not subject.startswith("dlq.")]
    started = next(m for m in log if isinstance(m, RunStarted))
    prices = PriceBook(references=started.price_references, perp_marks=started.perp_marks)
    projection = PnlProjection("USDT", prices=prices)
    spot = 0.0
    timeline: list[tuple[int, float, float]] = []
    for message in log:
        projection.process_event(message)
        ledger = projection.ledger
        if isinstance(message, PnlSnapshot):
            assert message.attribution["price"] == ledger.attribution["price"], iso(message.ts)
        if isinstance(message, InstructionFilled) and message.ts <= before:
            spot += sum(c.delta for c in message.changes if c.instrument == "binance:BaseToken:BTC")
        timeline.append((message.ts, ledger.attribution["price"], ledger.equity))

    _, base_price, base_equity = [v for v in timeline if v[0] <= before][-1]
    assert spot * Closes("cex/binance/BTCUSDT_spot_1h.csv.gz").at_or_before(before) > 0.5 * base_equity, (
        "the book is not hedged when the hole opens: the test would prove nothing"
    )
    # every valuation in the hole, and those once Binance's own bars are back
    moves = {ts: price - base_price for ts, price, _ in timeline if before <= ts <= after}
    assert len(moves) > 20
    worst = max(moves, key=lambda ts: abs(moves[ts]))
    assert abs(moves[worst]) < MAX_MOVE * base_equity, (iso(worst), moves[worst], base_equity)
