"""Instructions per replayed hour: a speed figure that does not depend on what else the machine runs.

    .venv/bin/python bench/replay_instructions.py [--python PY] [--start DATE] [--short END] [--long END]

Wall time on a shared machine swings by tens of percent from run to run; the number of instructions a
replay executes does not. This script runs the peer job of ``backtest_bench.py`` (``btc_basis`` with the
whole hedge on Binance, the event store on) twice under valgrind's callgrind, over a short and a long
window from the same start, and prints the difference: the instructions of the replay of the extra span,
free of interpreter start, imports and set-up, which both runs share. It also counts the log digest read
back after each run (it grows with the log as the replay does). Use it to compare two versions of the code
(or the pure and the compiled build, ``--python``); use ``backtest_bench.py`` for the comparison with the
peer, which only a timed run beside it can give.

Prints one JSON line per run, then a summary line::

    {"instructions": ..., "hours": ..., "md_events": ..., "per_hour": ..., "per_md_event": ..., ...}

Needs ``valgrind`` on PATH. The two runs go in parallel; each takes a minute or two.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from backtest_bench import PEER_OVERRIDES  # the peer job's settings (this folder is on the path)

HERE = Path(__file__).resolve().parent
COLLECTED = re.compile(r"Collected : (\d+)")
HOUR_NS = 3600 * 1_000_000_000


def child(start: str, end: str, out: str) -> dict[str, Any]:
    import asyncio

    from basis import compiled
    from basis.backtest import Backtest, BacktestRequest
    from basis.components.feed.times import parse_utc

    request = BacktestRequest(
        mode="btc_basis",
        overrides=PEER_OVERRIDES,
        start=parse_utc(start),
        end=parse_utc(end),
        out=Path(out),
        report=False,
    )
    backtest = Backtest(request)
    summary = asyncio.run(backtest.run())
    return {
        "end": end,
        "hours": (backtest.window[1] - backtest.window[0]) / HOUR_NS,
        "md_events": summary["market_data_events"],
        "log_messages": summary["events"],
        "log_digest": summary["log_digest"],
        "compiled": compiled(),
    }


def measure(python: str, start: str, end: str, work: Path) -> dict[str, Any]:
    """One run under callgrind: its result line and the instructions the whole process executed."""
    out = work / f"run-{end[:10]}"
    cmd = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={work / ('callgrind-' + end[:10])}",
        python, str(Path(__file__).resolve()), "--child", json.dumps([start, end, str(out)]),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent, check=False)
    found = COLLECTED.search(proc.stderr)
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or found is None or not results:
        sys.stderr.write(proc.stdout + proc.stderr[-4000:])
        sys.exit(f"replay_instructions: the run to {end} failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(results[-1][len("RESULT ") :])
    result["instructions"] = int(found.group(1))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter whose basis runs")
    parser.add_argument("--start", default="2024-01-01T01:00:00Z", help="window start of both runs")
    parser.add_argument("--short", default="2024-02-01T00:00:00Z", help="end of the short run")
    parser.add_argument("--long", default="2024-04-01T00:00:00Z", help="end of the long run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(*json.loads(args.child))), flush=True)
        return 0
    if shutil.which("valgrind") is None:
        sys.exit("replay_instructions: valgrind is not on PATH (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="basis-instructions-") as tmp:
        work = Path(tmp)
        with ThreadPoolExecutor(2) as pool:
            short, long = pool.map(
                lambda end: measure(args.python, args.start, end, work), [args.short, args.long]
            )
    for run in (short, long):
        print(json.dumps({"run": run}), flush=True)
    if long["hours"] <= short["hours"]:
        sys.exit(f"replay_instructions: --long {args.long} must end after --short {args.short}")
    instructions = long["instructions"] - short["instructions"]
    hours = long["hours"] - short["hours"]
    md_events = long["md_events"] - short["md_events"]
    summary = {
        "job": "peer_job",
        "span": f"{args.short} .. {args.long}",
        "compiled": long["compiled"],
        "instructions": instructions,
        "hours": hours,
        "md_events": md_events,
        "log_messages": long["log_messages"] - short["log_messages"],
        "per_hour": instructions / hours,
        "per_md_event": instructions / md_events,
    }
    print(json.dumps({"summary": summary}), flush=True)
    build = "compiled (mypyc)" if summary["compiled"] else "pure Python"
    print(
        f"\nbasis build: {build}\nreplay of {hours:,.0f} h ({md_events:,} market-data events, "
        f"{summary['log_messages']:,} logged messages): {instructions / 1e6:,.0f} M instructions, "
        f"{summary['per_hour'] / 1e3:,.0f} k per hour, {summary['per_md_event'] / 1e3:,.1f} k per event"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
