"""What the peer job's event log costs by itself: the bus and the store with no component doing any work,
beside NautilusTrader on the same job.

    .venv/bin/python bench/log_floor.py [--python PY] [--reps 5] [--peer-reps 5] [--no-peer]

A backtest publishes every message on the bus and appends every durable one to the event store. Those two
costs do not depend on how fast the components are: they are set by how many messages a replay publishes
and logs per hour of data. This script measures them on the messages of a real run, so a speed target can
be checked against them before any component is tuned.

1. It runs the peer job of ``backtest_bench.py`` (``btc_basis`` with the whole hedge on Binance, the store
   on) once, keeping its event log; its ``replay_s`` is the full replay.
2. In a fresh process it reads that run's messages back and replays only their transport, best of
   ``--reps``:

   ``store``          every logged message appended to a new SQLite store (as ``basis backtest`` writes
                      it: ``StoreWriter``, default batches), in the caller's thread: the store's own cost;
   ``store md only``  the same with the market-data messages alone (``md.*``), the inputs without which
                      the store cannot rebuild a run;
   ``bus``            every logged message, and one ``ClockTicked`` per distinct market-data time, published
                      through ``Bus`` on the in-process transport, with the backtest's recorder subscribed
                      to the durable subjects but appending nothing: the bus's own cost;
   ``bus+store``      both, the writer committing in its background thread as in a backtest.

3. It runs the peer (``bash run.sh``) after, never beside it.

Each figure is given as the peer's events (Binance BTCUSDT spot bars, perp bars, funding) per second of it,
and as a ratio to the peer's events per second. The ``bus+store`` ratio is the most any version of the
components could reach while the replay publishes and logs these messages.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import backtest_bench  # this folder is on the path
from backtest_bench import PEER_OVERRIDES, PEER_SUBJECTS, run_child, run_peer, run_script


def child(run_dir: str, reps: int) -> dict[str, Any]:
    import asyncio

    from basis import compiled
    from basis.backtest.run import DURABLE
    from basis.bus.bus import Bus
    from basis.bus.codec import decode
    from basis.bus.messages import ClockTicked, Message
    from basis.bus.store import StoreWriter, open_store, sqlite_url
    from basis.bus.transport.base import Envelope
    from basis.bus.transport.inprocess import InProcessTransport

    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    with open_store(summary["store"]) as store:
        records = [(r.subject, r.data) for r in store.read(run_id=summary["run_id"])]
    peer_events = sum(1 for subject, _ in records if subject in PEER_SUBJECTS)
    messages: list[Message] = []
    current = None
    for subject, data in records:
        message = decode(data)
        if subject.startswith("md.") and message.ts != current:
            current = message.ts
            messages.append(ClockTicked(id=f"floor.{len(messages)}", ts=current))
        messages.append(message)

    market_data = [(subject, data) for subject, data in records if subject.startswith("md.")]

    def store_only(work: Path, logged: list[tuple[str, bytes]]) -> None:
        with open_store(sqlite_url(work / "events.sqlite")) as target:
            with StoreWriter(target, "floor", background=False) as writer:
                for subject, data in logged:
                    writer.append(subject, data)

    async def publish(work: Path, stored: bool) -> None:
        with open_store(sqlite_url(work / "events.sqlite")) as target, StoreWriter(target, "floor") as writer:
            transport = InProcessTransport()

            def record(envelope: Envelope) -> None:
                if stored:
                    writer.append(envelope.subject, envelope.data)

            for pattern in DURABLE:
                await transport.subscribe(pattern, record)
            bus = Bus(transport, component="market-data")
            for message in messages:
                await bus.publish(message)

    jobs = {
        "store": lambda work: store_only(work, records),
        "store md only": lambda work: store_only(work, market_data),
        "bus": lambda work: asyncio.run(publish(work, stored=False)),
        "bus+store": lambda work: asyncio.run(publish(work, stored=True)),
    }
    seconds: dict[str, float] = {}
    for name, job in jobs.items():
        for _ in range(reps):
            with tempfile.TemporaryDirectory(prefix="basis-floor-") as tmp:
                started = time.perf_counter()
                job(Path(tmp))
                elapsed = time.perf_counter() - started
            seconds[name] = min(elapsed, seconds.get(name, elapsed))
    return {
        "logged_messages": len(records),
        "market_data_messages": len(market_data),
        "clock_ticks": len(messages) - len(records),
        "peer_style_events": peer_events,
        "seconds": seconds,
        "compiled": compiled(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each floor (the best counts)")
    parser.add_argument("--peer-reps", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true", help="skip the NautilusTrader peer")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per run")
    parser.add_argument("--python", default=sys.executable, help="interpreter whose basis runs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(*json.loads(args.child))), flush=True)
        return 0
    backtest_bench.PYTHON = args.python

    with tempfile.TemporaryDirectory(prefix="basis-floor-") as tmp:
        run_dir = Path(tmp) / "peer_job"
        spec = {"job": "peer_job", "mode": "btc_basis", "overrides": PEER_OVERRIDES, "peer_count": True}
        full = run_child({**spec, "out": str(run_dir)}, args.timeout)
        print(json.dumps({"run": full}), flush=True)
        floor = run_script(
            Path(__file__), [str(run_dir), args.reps], args.timeout, "log_floor: the floor run"
        )
        shutil.rmtree(run_dir, ignore_errors=True)
    print(json.dumps({"floor": floor}), flush=True)
    peer = None if args.no_peer else run_peer(args.peer_reps, args.timeout)

    events = floor["peer_style_events"]
    rows = [("full replay", full["replay_s"])] + [(name, s) for name, s in floor["seconds"].items()]
    peer_rate = peer["events_per_s_median"] if peer else None
    summary = {
        "job": "peer_job",
        "compiled": floor["compiled"],
        "peer_style_events": events,
        "logged_messages": floor["logged_messages"],
        "clock_ticks": floor["clock_ticks"],
        "seconds": dict(rows),
        "events_per_s": {name: events / s for name, s in rows},
        "peer_events_per_s": peer_rate,
        "ratio": {name: events / s / peer_rate for name, s in rows} if peer_rate else None,
    }
    print(json.dumps({"summary": summary}), flush=True)
    build = "compiled (mypyc)" if floor["compiled"] else "pure Python"
    print(
        f"\nbasis build: {build}; peer job: {events:,} peer-style events, {floor['logged_messages']:,} logged "
        f"messages, {floor['clock_ticks']:,} clock ticks"
    )
    print(f"{'':<14} {'seconds':>8} {'events/s':>10} {'/ peer':>7}")
    for name, s in rows:
        ratio = f"{events / s / peer_rate:.2f}" if peer_rate else "-"
        print(f"{name:<14} {s:>8.3f} {events / s:>10,.0f} {ratio:>7}")
    if peer_rate:
        print(f"{'nautilus':<14} {peer['run_s_median']:>8.3f} {peer_rate:>10,.0f} {1.0:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
