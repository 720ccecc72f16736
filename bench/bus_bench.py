"""Bus benchmarks; prints one JSON object per line.

* ``roundtrip``: ping -> heartbeat between two OS processes over a real nats-server. ``basis-bus``:
  typed messages through the Bus and NatsTransport, the responder a real Component (fresh ids and
  clock; the Bus sets ``Basis-Run`` only on durable subjects, not on these ``sys.*`` ones).
  ``basis-transport``: NatsTransport alone on both sides, carrying the same bytes and a ``Basis-Run``
  header. Beside them raw nats-py doing the same round trip with the same payload, without and with
  the header. p50/p99 in microseconds and the overhead ratios (ours / raw).
* ``request``: core request/reply, ``transport.request`` + codec encode/decode on both sides vs
  ``nc.request`` with the same bytes.
* ``inprocess``: in-process transport throughput, raw bytes and typed Bus messages (msgs/s).

Usage: ``python bench/bus_bench.py [--roundtrips N] [--inprocess N]``. Starts its own embedded server;
runs well under a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import nats

from basis.bus import subjects
from basis.bus.bus import RUN_HEADER, Bus
from basis.bus.clock import LiveClock
from basis.bus.codec import decode, encode
from basis.bus.component import Component
from basis.bus.embedded import EmbeddedNats
from basis.bus.ids import RandomIds
from basis.bus.messages import Control, Heartbeat, Message, OraclePrice
from basis.bus.transport.base import Envelope
from basis.bus.transport.inprocess import InProcessTransport
from basis.bus.transport.nats import NatsTransport

# Two responders run side by side, each on its own subjects; the names have the same length so both
# sides move exactly the same number of bytes.
OURS, TRANSPORT, RAW, RAW_H = "echo-basis", "echo-trans", "echo-natsp", "echo-natsh"
RUN_ID = "bench"


def request_subject(name: str) -> str:
    return f"sys.bench.{name}"


def control(name: str) -> Control:
    return Control(id=RandomIds().next_id(), ts=time.time_ns(), component=name, command="ping")


def heartbeat(name: str, cause: str) -> Heartbeat:
    """What the echo component answers: same fields, same sizes."""
    return Heartbeat(
        id=RandomIds().next_id(),
        ts=time.time_ns(),
        component=name,
        processed=1,
        dead_lettered=0,
        causation_id=cause,
        correlation_id=cause,
    )


# --- responders (run in a child process) -------------------------------------------------------------


async def serve_ours(url: str) -> None:
    transport = await NatsTransport.connect(url, name="bench-ours")
    bus = Bus(transport, component=OURS, run_id=RUN_ID)
    echo = Component(bus, LiveClock(), RandomIds())  # the base component answers pings, nothing else
    echo.name = OURS
    await echo.start()

    async def on_request(envelope: Envelope) -> None:
        ping = decode(envelope.data)
        await transport.reply(envelope, encode(heartbeat(OURS, ping.id)))

    await transport.subscribe(request_subject(OURS), on_request)

    # the transport alone: bytes in, bytes out, headers echoed (no Bus, no typed messages)
    answer, beat = encode(heartbeat(TRANSPORT, RandomIds().next_id())), subjects.heartbeat(TRANSPORT)

    async def on_transport_ping(envelope: Envelope) -> None:
        await transport.publish(beat, answer, headers=envelope.headers)

    await transport.subscribe(subjects.control(TRANSPORT), on_transport_ping)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin
    await transport.close()


async def serve_raw(url: str) -> None:
    nc = await nats.connect(url, name="bench-raw")

    async def serve(name: str) -> None:
        answer = encode(heartbeat(name, RandomIds().next_id()))
        beat = subjects.heartbeat(name)

        async def on_ping(msg: Any) -> None:
            await nc.publish(beat, answer, headers=msg.headers)

        async def on_request(msg: Any) -> None:
            await msg.respond(answer)

        await nc.subscribe(subjects.control(name), cb=on_ping)
        await nc.subscribe(request_subject(name), cb=on_request)

    for name in (RAW, RAW_H):
        await serve(name)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await nc.drain()


# --- measurement ---------------------------------------------------------------------------------------


def spawn(mode: str, url: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, __file__, mode, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{mode} responder did not start")
    return child


def stop(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()


Once = Callable[[], Awaitable[None]]


async def interleaved(sides: list[Once], n: int, warmup: int) -> list[list[float]]:
    """One round trip of each side in turn (rotating who goes first), so drift (CPU frequency, other
    load) hits every side alike; latencies in microseconds."""
    for _ in range(warmup):
        for once in sides:
            await once()
    samples: list[list[float]] = [[] for _ in sides]
    for i in range(n):
        for k in range(len(sides)):
            side = (i + k) % len(sides)
            t0 = time.perf_counter_ns()
            await sides[side]()
            samples[side].append((time.perf_counter_ns() - t0) / 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50_us": round(q[49], 1),
        "p99_us": round(q[98], 1),
        "mean_us": round(statistics.fmean(samples), 1),
    }


@asynccontextmanager
async def ours_roundtrip(url: str) -> AsyncIterator[Once]:
    """Typed Bus publish of a Control ping; the echo component's Heartbeat comes back via Bus.subscribe."""
    transport = await NatsTransport.connect(url, name="bench-client")
    bus = Bus(transport, component="bench-client", run_id=RUN_ID)
    waiting: asyncio.Future[Heartbeat] | None = None

    async def on_heartbeat(hb: Heartbeat) -> None:
        if waiting is not None and not waiting.done():
            waiting.set_result(hb)

    await bus.subscribe(subjects.heartbeat(OURS), on_heartbeat, types=(Heartbeat,))

    async def once() -> None:
        nonlocal waiting
        waiting = asyncio.get_running_loop().create_future()
        await bus.publish(control(OURS))
        await asyncio.wait_for(waiting, 2.0)

    try:
        yield once
    finally:
        await transport.close()


@asynccontextmanager
async def transport_roundtrip(url: str) -> AsyncIterator[Once]:
    """Our NatsTransport alone on both sides: the same bytes and run header as the Bus sends."""
    transport = await NatsTransport.connect(url, name="bench-transport-client")
    waiting: asyncio.Future[Envelope] | None = None

    async def on_heartbeat(envelope: Envelope) -> None:
        if waiting is not None and not waiting.done():
            waiting.set_result(envelope)

    await transport.subscribe(subjects.heartbeat(TRANSPORT), on_heartbeat)
    ping, target, headers = encode(control(TRANSPORT)), subjects.control(TRANSPORT), {RUN_HEADER: RUN_ID}

    async def once() -> None:
        nonlocal waiting
        waiting = asyncio.get_running_loop().create_future()
        await transport.publish(target, ping, headers=headers)
        await asyncio.wait_for(waiting, 2.0)

    try:
        yield once
    finally:
        await transport.close()


@asynccontextmanager
async def raw_roundtrip(
    url: str, name: str = RAW, headers: dict[str, str] | None = None
) -> AsyncIterator[Once]:
    """The same payload with plain nats-py publish and subscribe (the responder echoes ``headers``)."""
    nc = await nats.connect(url, name="bench-raw-client")
    waiting: asyncio.Future[bytes] | None = None

    async def on_heartbeat(msg: Any) -> None:
        if waiting is not None and not waiting.done():
            waiting.set_result(msg.data)

    await nc.subscribe(subjects.heartbeat(name), cb=on_heartbeat)
    await nc.flush()
    ping, target = encode(control(name)), subjects.control(name)

    async def once() -> None:
        nonlocal waiting
        waiting = asyncio.get_running_loop().create_future()
        await nc.publish(target, ping, headers=headers)
        await asyncio.wait_for(waiting, 2.0)

    try:
        yield once
    finally:
        await nc.drain()


@asynccontextmanager
async def ours_request(url: str) -> AsyncIterator[Once]:
    transport = await NatsTransport.connect(url, name="bench-client")

    async def once() -> None:
        reply = await transport.request(request_subject(OURS), encode(control(OURS)))
        assert isinstance(decode(reply.data), Heartbeat)

    try:
        yield once
    finally:
        await transport.close()


@asynccontextmanager
async def raw_request(url: str) -> AsyncIterator[Once]:
    nc = await nats.connect(url, name="bench-raw-client")
    ping, target = encode(control(RAW)), request_subject(RAW)

    async def once() -> None:
        await nc.request(target, ping, timeout=2.0)

    try:
        yield once
    finally:
        await nc.drain()


async def inprocess_throughput(n: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []

    t = InProcessTransport()
    count = 0

    async def on_raw(envelope: Envelope) -> None:
        nonlocal count
        count += 1

    await t.subscribe("md.price.*.*", on_raw)
    data = b"{}"
    t0 = time.perf_counter()
    for _ in range(n):
        await t.publish("md.price.aave_v3.ETH", data)
    elapsed = time.perf_counter() - t0
    assert count == n
    results.append(
        {"bench": "inprocess", "kind": "transport_bytes", "msgs": n, "msgs_per_s": round(n / elapsed)}
    )

    t = InProcessTransport()
    bus = Bus(t, component="bench", run_id=RUN_ID)
    received = 0

    async def on_price(message: OraclePrice) -> None:
        nonlocal received
        received += 1

    await bus.subscribe("md.price.*.*", on_price, types=(OraclePrice,))
    prices: list[Message] = [
        OraclePrice(id=f"p{i}", ts=i, venue="aave_v3", asset="ETH", quote="USD", price=3000.0 + i)
        for i in range(n)
    ]
    t0 = time.perf_counter()
    for price in prices:
        await bus.publish(price)
    elapsed = time.perf_counter() - t0
    assert received == n
    results.append({"bench": "inprocess", "kind": "bus_typed", "msgs": n, "msgs_per_s": round(n / elapsed)})
    return results


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def report(bench: str, impls: list[str], samples: list[list[float]], compare: list[tuple[int, int]]) -> None:
    """One line per implementation, then one per (ours, raw) pair: the ratios of p50 and p99."""
    stats = [summary(s) for s in samples]
    for impl, stat, s in zip(impls, stats, samples, strict=True):
        emit({"bench": bench, "impl": impl, "n": len(s), **stat})
    for ours, raw in compare:
        emit(
            {
                "bench": bench,
                "impl": impls[ours],
                "vs": impls[raw],
                "overhead_ratio_p50": round(stats[ours]["p50_us"] / stats[raw]["p50_us"], 3),
                "overhead_ratio_p99": round(stats[ours]["p99_us"] / stats[raw]["p99_us"], 3),
                "target_ratio": 1.2,
            }
        )


async def run(roundtrips: int, warmup: int, inprocess: int) -> None:
    for record in await inprocess_throughput(inprocess):
        emit(record)
    with tempfile.TemporaryDirectory() as run_dir, EmbeddedNats(run_dir) as server:
        ours_child, raw_child = spawn("serve-ours", server.url), spawn("serve-raw", server.url)
        run_header = {RUN_HEADER: RUN_ID}
        try:
            async with (
                ours_roundtrip(server.url) as ours,
                transport_roundtrip(server.url) as transport,
                raw_roundtrip(server.url) as raw,
                raw_roundtrip(server.url, RAW_H, run_header) as raw_with_header,
            ):
                samples = await interleaved([ours, transport, raw, raw_with_header], roundtrips, warmup)
            names = ["basis-bus", "basis-transport", "raw-nats-py", "raw-nats-py+run-header"]
            report("roundtrip", names, samples, [(0, 2), (0, 3), (1, 3)])
            async with ours_request(server.url) as ours, raw_request(server.url) as raw:
                samples = await interleaved([ours, raw], roundtrips, warmup)
            report("request", ["basis-transport+codec", "raw-nats-py"], samples, [(0, 1)])
        finally:
            stop(ours_child)
            stop(raw_child)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", nargs="?", default="bench", choices=("bench", "serve-ours", "serve-raw"))
    parser.add_argument("url", nargs="?", default="")
    parser.add_argument("--roundtrips", type=int, default=4000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--inprocess", type=int, default=200_000)
    args = parser.parse_args()
    if args.mode == "serve-ours":
        asyncio.run(serve_ours(args.url))
    elif args.mode == "serve-raw":
        asyncio.run(serve_raw(args.url))
    else:
        asyncio.run(run(args.roundtrips, args.warmup, args.inprocess))


if __name__ == "__main__":
    main()
