"""Lockstep over NATS: the same backtest in one process and with every component but the feed in its own
process (``--processes``), side by side.

    .venv/bin/python bench/lockstep_bench.py [--mode btc_basis] [--start 2024-06-01] [--days 14] [--nats URL]

Prints, from one run of each (the machine is noisy; compare the two columns, not runs across days):

``ticks/s``        ``ClockTicked`` messages the feed published ÷ ``Backtest.replay_seconds``. The ticks are
                   the feed's own count (``MarketDataFeed.run()`` returns it as ``clock``): the two-day
                   warm-up before the window and the final tick included, as the replay time includes them.
                   Over processes the replay time also includes stopping the component processes and the
                   NATS server (the backtest closes them before it commits the store); ``feed only`` is
                   the ticks ÷ the feed's first to last message;
``start-up``       from ``Backtest.run()`` to the feed's first message (store opened, NATS server and
                   component processes started, subscriptions registered). The remainder of the wall time
                   (``wall`` − ``start-up`` − ``replay``) is the digest and the summary;
``latency``        over processes only: for each venue instruction (``cmd.<venue>.<action>``, not the
                   router's), the wall time from the conductor's delivery of the feed's latest message
                   (``md.>``, ``sys.clock`` or an investor flow, ``cmd.fund.*``) to the conductor's delivery
                   of the instruction, i.e. the moment it leaves for the venue's process. The lockstep
                   conductor delivers one feed message and its whole cascade before the feed publishes the
                   next, so that message caused it. Both times are taken by plain subscribers on the
                   conductor's transport, subscribed before every other (they publish nothing: the log is
                   unchanged);
``digest``         the log digests of the two runs, which must be equal (exit status 1 otherwise).

The last line is one JSON object, ``{"lockstep": {...}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from basis.backtest import Backtest, BacktestRequest
from basis.backtest.processes import ComponentProcesses
from basis.backtest.run import Collector
from basis.bus.clock import SimClock
from basis.bus.messages import KINDS
from basis.bus.store import StoreWriter
from basis.bus.transport.base import Envelope
from basis.bus.transport.inprocess import InProcessTransport
from basis.components.feed import parse_utc

DAY_NS = 86_400 * 1_000_000_000
ACTIONS = frozenset(KINDS.values())
"""The last token of a venue instruction's subject (``cmd.<venue>.<action>``)."""
AIMS = "aim: p99 under 5 ms, >= 1,000 ticks/s in lockstep"


class TimedBacktest(Backtest):
    """A backtest that keeps the feed's counts and the replay's start and, over processes, times each
    venue instruction from the feed message that caused it (module doc). Library code is unchanged: this
    only wraps two steps of :class:`Backtest` and subscribes on the transport they hand over."""

    def __init__(self, request: BacktestRequest) -> None:
        super().__init__(request)
        self.counts: dict[str, int] = {}
        self.latencies_ns: list[int] = []
        self._last_feed_ns = 0
        self.frames = 0
        """Frames the conductor sent to component processes (a message to one process, one frame)."""
        self.run_started = self.wall_seconds = self.feed_seconds = float("nan")

    async def _replay(self, writer: StoreWriter) -> tuple[Collector, dict[str, int]]:
        collector, self.counts = await super()._replay(writer)
        return collector, self.counts

    async def _replay_on(
        self,
        writer: StoreWriter,
        transport: InProcessTransport,
        clock: SimClock,
        processes: ComponentProcesses | None,
    ) -> tuple[Collector, dict[str, int]]:
        if processes is not None:  # first subscribers: called as the conductor starts each delivery
            await transport.subscribe("md.>", self._on_feed)
            await transport.subscribe("sys.clock", self._on_feed)
            await transport.subscribe("cmd.>", self._on_command)
        result = await super()._replay_on(writer, transport, clock, processes)
        assert self._replay_started is not None
        self.feed_seconds = time.perf_counter() - self._replay_started  # the feed's first to last message
        if processes is not None and processes.conductor is not None:
            self.frames = processes.conductor.frames
        return result

    def _on_feed(self, envelope: Envelope) -> None:
        self._last_feed_ns = time.perf_counter_ns()

    def _on_command(self, envelope: Envelope) -> None:
        _, target, action = envelope.subject.split(".", 2)
        if target == "fund":  # an investor flow: the feed publishes it
            self._last_feed_ns = time.perf_counter_ns()
        elif target != "router" and action in ACTIONS:
            self.latencies_ns.append(time.perf_counter_ns() - self._last_feed_ns)

    @property
    def startup_seconds(self) -> float:
        """From :meth:`run` to the feed's first message (set by :meth:`timed_run`)."""
        assert self._replay_started is not None
        return self._replay_started - self.run_started

    async def timed_run(self) -> dict[str, Any]:
        self.run_started = time.perf_counter()
        summary = await self.run()
        self.wall_seconds = time.perf_counter() - self.run_started
        return summary


def run_once(args: argparse.Namespace, out: Path, *, processes: bool) -> tuple[TimedBacktest, dict[str, Any]]:
    start = parse_utc(args.start if "T" in args.start else f"{args.start}T00:00:00Z")
    request = BacktestRequest(
        mode=args.mode,
        start=start,
        end=start + args.days * DAY_NS,
        out=out,
        report=False,
        processes=processes,
        nats=args.nats,
    )
    backtest = TimedBacktest(request)
    summary = asyncio.run(backtest.timed_run())
    return backtest, summary


def percentile_ms(values_ns: list[int], q: int) -> float | None:
    """The ``q``-th percentile (1..99) in milliseconds; None without at least two values."""
    if len(values_ns) < 2:
        return None
    return statistics.quantiles(values_ns, n=100, method="inclusive")[q - 1] / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", default="btc_basis")
    parser.add_argument("--start", default="2024-06-01", help="window start, UTC (YYYY-MM-DD[THH:MM:SSZ])")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--nats", help="NATS server of the --processes run (default: an embedded one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="basis-lockstep-bench-") as tmp:
        local, local_summary = run_once(args, Path(tmp) / "in-process", processes=False)
        remote, remote_summary = run_once(args, Path(tmp) / "processes", processes=True)

    ticks = local.counts["clock"]
    if remote.counts["clock"] != ticks:
        print(f"lockstep_bench: tick counts differ: {ticks} vs {remote.counts['clock']}", file=sys.stderr)
    rates = [b.counts["clock"] / (b.replay_seconds or float("nan")) for b in (local, remote)]
    same_digest = local_summary["log_digest"] == remote_summary["log_digest"]
    p50, p99 = percentile_ms(remote.latencies_ns, 50), percentile_ms(remote.latencies_ns, 99)

    print(f"{args.mode}, {args.days} days from {local_summary['start']} ({ticks:,} ticks, warm-up included)")
    print(f"{'':<22} {'in-process':>12} {'processes':>12}")
    for label, values in (
        ("start-up s", [b.startup_seconds for b in (local, remote)]),
        ("replay s", [b.replay_seconds or float("nan") for b in (local, remote)]),
        ("  of which feed s", [b.feed_seconds for b in (local, remote)]),
        ("wall s (run())", [b.wall_seconds for b in (local, remote)]),
    ):
        print(f"{label:<22} {values[0]:>12.3f} {values[1]:>12.3f}")
    print(f"{'ticks/s':<22} {rates[0]:>12,.0f} {rates[1]:>12,.0f}")
    print(f"{'  feed only':<22} {ticks / local.feed_seconds:>12,.0f} {ticks / remote.feed_seconds:>12,.0f}")
    print(f"{'log events':<22} {local_summary['events']:>12,} {remote_summary['events']:>12,}")
    print(f"{'lockstep frames':<22} {'':>12} {remote.frames:>12,}")
    latency = (
        f"p50 {p50:.3f} ms, p99 {p99:.3f} ms over {len(remote.latencies_ns)} venue instructions"
        if p50 is not None and p99 is not None
        else f"{len(remote.latencies_ns)} venue instructions: too few for percentiles"
    )
    if 2 <= len(remote.latencies_ns) < 100:
        latency += " (fewer than 100: p99 is about the largest)"
    print(f"tick -> venue instruction (processes): {latency}")
    print(
        f"log digest: in-process {local_summary['log_digest'][:16]}…, processes {remote_summary['log_digest'][:16]}…"
    )
    print(
        "digests equal: the processes run wrote the in-process run's log" if same_digest else "DIGESTS DIFFER"
    )
    print(f"({AIMS})")
    result = {
        "mode": args.mode,
        "start": local_summary["start"],
        "days": args.days,
        "ticks": ticks,
        "in_process_ticks_per_s": round(rates[0], 1),
        "processes_ticks_per_s": round(rates[1], 1),
        "in_process_replay_s": round(local.replay_seconds or float("nan"), 3),
        "processes_replay_s": round(remote.replay_seconds or float("nan"), 3),
        "startup_s": round(remote.startup_seconds, 3),
        "latency_ms_p50": None if p50 is None else round(p50, 3),
        "latency_ms_p99": None if p99 is None else round(p99, 3),
        "instructions": len(remote.latencies_ns),
        "same_digest": same_digest,
    }
    print(json.dumps({"lockstep": result}), flush=True)
    return 0 if same_digest else 1


if __name__ == "__main__":
    sys.exit(main())
