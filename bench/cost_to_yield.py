"""What trading costs the basis modes: fees + gas ÷ funding over the bundled window, and the risk seen.

    .venv/bin/python bench/cost_to_yield.py [--mode btc_basis --mode eth_basis] [--capital X] [--target 0.12]

Each mode is backtested through the ``basis`` command line over its default window (the whole bundled
dataset) with every monitor view kept in the log (``--checkpoint-interval 0``), in a temporary folder.
Printed per mode, from ``summary.json`` and the run's log:

``cost_to_yield``   −(trading_fees + gas) ÷ funding (the basis modes earn nothing else);
``decisions``       the strategy's rebalancing decisions (holds excluded) and the trades and transfers sent;
``max |drift|``     the largest net delta ÷ equity of the last risk assessment of each clock instant (within
                    an instant the fills of a spot trade and of its hedge's legs are valued one by one);
``min margin``      the lowest margin ratio of any venue over every risk assessment.

The exit status is 1 when a mode's ``cost_to_yield`` is above ``--target`` (the btc_basis target is 12 %
at 100,000 USDT).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from basis.bus.codec import decode
from basis.bus.messages import Instruction, RiskAssessment, StrategyDecided
from basis.bus.store import open_store

ROOT = Path(__file__).resolve().parent.parent


def backtest(mode: str, out: Path, capital: float | None) -> dict[str, object]:
    command = [str(Path(sys.executable).parent / "basis"), "backtest", "--mode", mode, "--out", str(out)]
    command += ["--no-report", "-q", "--checkpoint-interval", "0"]
    if capital is not None:
        command += ["--capital", str(capital)]
    subprocess.run(command, check=True, cwd=ROOT)
    summary: dict[str, object] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return summary


def read_run(out: Path, run_id: str) -> dict[str, object]:
    """Decisions, instructions and the risk seen, from the run's log."""
    decisions = 0
    sent: Counter[str] = Counter()
    settled: dict[int, float] = {}
    margin = float("inf")
    with open_store(f"sqlite:///{(out / 'events.sqlite').resolve()}") as store:
        for record in store.read(run_id=run_id):
            message = decode(record.data)
            if isinstance(message, StrategyDecided) and message.action != "hold":
                decisions += 1
            elif isinstance(message, Instruction) and message.venue == "router":
                sent[type(message.action).__name__] += 1
            elif isinstance(message, RiskAssessment):
                if message.margin_ratios:
                    margin = min(margin, *message.margin_ratios.values())
                settled[message.ts] = message.delta_drift
    drift = max(settled.values(), default=0.0)
    return {"decisions": decisions, "sent": dict(sorted(sent.items())), "drift": drift, "margin": margin}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", action="append", help="a basis mode (repeatable; default both)")
    parser.add_argument("--capital", type=float, default=None, help="initial capital (default: the mode's)")
    parser.add_argument("--target", type=float, default=0.12, help="highest cost_to_yield accepted")
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.mode or ["btc_basis", "eth_basis"]:
            out = Path(tmp) / mode
            summary = backtest(mode, out, args.capital)
            attribution = summary["attribution"]
            assert isinstance(attribution, dict)
            costs = -(attribution["trading_fees"] + attribution["gas"])
            ratio = costs / attribution["funding"]
            seen = read_run(out, str(summary["run_id"]))
            print(
                f"{mode:10s} cost_to_yield {ratio:.4f}  (fees {-attribution['trading_fees']:.4f} + gas "
                f"{-attribution['gas']:.4f} over funding {attribution['funding']:.4f} {summary['share_class']})"
            )
            print(
                f"{'':10s} decisions {seen['decisions']}  sent {seen['sent']}  max |drift| "
                f"{seen['drift']:.6f}  min margin {seen['margin']:.4f}"
            )
            failed |= ratio > args.target
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
