"""btc_basis does not trade on a price move alone: over three weeks of November 2024 (BTC from about 69,000
to about 98,000 USDT, no investor flow after the deposit) it trades only when a margin falls below its
band, and every view of the run (``--checkpoint-interval 0``) stays inside the bands."""

from __future__ import annotations

import math
from pathlib import Path

from backtestutil import load_summary, read_log, run_cli, sqlite_url

from basis.bus.messages import Bar, Instruction, RiskAssessment, SpotTrade, StrategyDecided

MARGIN_BUFFER = 0.43
FLOOR = (0.30 + MARGIN_BUFFER) / 2.0
RISE_PER_SIZING = (MARGIN_BUFFER - FLOOR) / (1.0 + FLOOR)
"""A fresh short reaches the floor after this rise: (m − x) / (1 + x) = floor."""


def test_a_price_rise_is_traded_only_at_the_margin_floor(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["backtest", "--mode", "btc_basis", "--start", "2024-11-01", "--end", "2024-11-22"]
    run_cli([*args, "--out", str(out), "--no-report", "-q", "--checkpoint-interval", "0"], tmp_path)
    summary = load_summary(out)
    log = [m for _, _, m in read_log(sqlite_url(out / "events.sqlite"), summary["run_id"])]
    decisions = [m for m in log if isinstance(m, StrategyDecided) and m.action != "hold"]
    entry = [d for d in decisions if d.action == "entry_full"]
    later = decisions[len(entry) :]
    margin_or_completion = (
        "hedge margin ratio",
        "completing the sizing",
        "binance margin",
        "bybit margin",
        "okx margin",
    )
    assert [d.reason for d in later if not d.reason.startswith(margin_or_completion)] == []
    trades = [
        m
        for m in log
        if isinstance(m, Instruction) and m.venue == "router" and isinstance(m.action, SpotTrade)
    ]
    risks = [m for m in log if isinstance(m, RiskAssessment)]
    settled = {r.ts: r for r in risks}
    # every sizing follows a rise of RISE_PER_SIZING since the last one: at most ln(high / low) / ln(1 + x)
    # of them over the window (plus the entry's buy and its completion)
    closes = [m.close for m in log if isinstance(m, Bar) and m.venue == "binance" and m.market == "spot"]
    bound = math.ceil(math.log(max(closes) / min(closes)) / math.log(1.0 + RISE_PER_SIZING)) + 2
    assert 2 < len(trades) <= bound
    assert all(r.delta_drift <= 0.03 for r in settled.values())
    assert all(min(r.margin_ratios.values(), default=1.0) > 0.30 for r in risks)
