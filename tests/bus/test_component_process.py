"""A component in its own OS process, over the real server: work, dead letters, still alive."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest
from busutil import Collector

from basis.bus import subjects
from basis.bus.bus import ORIGINAL_SUBJECT_HEADER, Bus
from basis.bus.embedded import EmbeddedNats
from basis.bus.messages import Control, Fill, Heartbeat, InstructionFilled, Message, PositionSnapshot
from basis.bus.transport.base import ERROR_HEADER
from basis.bus.transport.nats import NatsTransport

NAME = "position-monitor"
FILLED = "evt.binance.filled"
BTC = "binance:BaseToken:BTC"


def malformed_payloads(n: int) -> list[bytes]:
    """Bad JSON, wrong schema, unknown type tag and wrong field types, each one distinct."""
    kinds = [
        lambda i: b'{"type": "InstructionFilled", "id": "bad-%d", ' % i,
        lambda i: msgspec.json.encode({"type": "InstructionFilled", "id": f"bad-{i}", "ts": i}),
        lambda i: msgspec.json.encode({"type": "NoSuchMessage", "id": f"bad-{i}", "ts": i}),
        lambda i: msgspec.json.encode(
            {
                "type": "InstructionFilled",
                "id": f"bad-{i}",
                "ts": "yesterday",
                "instruction_id": i,
                "venue": "binance",
                "changes": "lots",
            }
        ),
    ]
    return [kinds[i % len(kinds)](i) for i in range(n)]


class Client:
    """The test's side of the bus: publishes as ``tester`` and keeps what comes back."""

    def __init__(self, transport: NatsTransport) -> None:
        self.transport = transport
        self.bus = Bus(transport, component="tester", run_id="test-run")
        self.heartbeats: asyncio.Queue[Heartbeat] = asyncio.Queue()
        self.snapshots: asyncio.Queue[PositionSnapshot] = asyncio.Queue()
        self.dead = Collector()

    async def start(self) -> None:
        await self.bus.subscribe(subjects.heartbeat(NAME), self.heartbeats.put, types=(Heartbeat,))
        await self.bus.subscribe("evt.positions.snapshot", self.snapshots.put, types=(PositionSnapshot,))
        await self.transport.subscribe(subjects.dlq(FILLED), self.dead)

    async def send(self, message: Message) -> None:
        await self.bus.publish(message)
        await self.transport.flush()

    async def ping(self, timeout: float = 5.0) -> Heartbeat:
        ping = Control(id=uuid.uuid4().hex, ts=time.time_ns(), component=NAME, command="ping")
        await self.send(ping)
        while True:
            beat = await asyncio.wait_for(self.heartbeats.get(), timeout)
            if beat.causation_id == ping.id:
                return beat

    async def wait_until_up(self, process: subprocess.Popen[bytes], timeout: float = 20.0) -> Heartbeat:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, "component process exited"
            try:
                return await self.ping(timeout=0.3)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    async def snapshot_after(self, message: Message, timeout: float = 5.0) -> PositionSnapshot:
        while True:
            snapshot = await asyncio.wait_for(self.snapshots.get(), timeout)
            if snapshot.causation_id == message.id:
                return snapshot


def fill(delta: float) -> InstructionFilled:
    return InstructionFilled(
        id=uuid.uuid4().hex,
        ts=time.time_ns(),
        instruction_id=uuid.uuid4().hex,
        venue="binance",
        changes=(Fill(instrument=BTC, delta=delta, price=60_000.0),),
    )


@pytest.fixture
def monitor_process(nats_server: EmbeddedNats, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "component.log").open("wb")
    cmd = [sys.executable, "-m", "basis.components", NAME, "--nats", nats_server.url, "--run-id", "proc-test"]
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)
        log.close()


@pytest.fixture
async def client(nats_server: EmbeddedNats) -> AsyncIterator[Client]:
    transport = await NatsTransport.connect(nats_server.url, name="tester")
    await transport.ensure_streams()
    c = Client(transport)
    await c.start()
    yield c
    await transport.close()


async def test_component_process_survives_a_thousand_malformed_payloads(
    monitor_process: subprocess.Popen[bytes], client: Client
) -> None:
    first = await client.wait_until_up(monitor_process)
    assert first.component == NAME and first.dead_lettered == 0

    # a fill goes in, a position snapshot comes out
    buy = fill(0.5)
    await client.send(buy)
    snapshot = await client.snapshot_after(buy)
    assert snapshot.positions == {BTC: 0.5}
    assert snapshot.correlation_id == buy.id

    # 1,000 payloads that are not valid messages: every one is dead-lettered with the decode error
    bad = malformed_payloads(1000)
    for payload in bad:
        await client.transport.publish(FILLED, payload)
    await client.transport.flush()
    letters = await client.dead.wait_for(len(bad), timeout=20.0)
    assert Counter(e.data for e in letters) == Counter(bad)
    assert all(e.headers[ERROR_HEADER].startswith("decode error: ") for e in letters)
    assert all(e.headers[ORIGINAL_SUBJECT_HEADER] == FILLED for e in letters)
    assert {e.headers["Basis-Run"] for e in letters} == {"proc-test"}

    # still alive, and counting
    beat = await client.ping()
    assert beat.dead_lettered == 1000

    # and still working
    sell = fill(-0.2)
    await client.send(sell)
    snapshot = await client.snapshot_after(sell)
    assert snapshot.positions == {BTC: pytest.approx(0.3)}

    # a stop command ends the process cleanly
    await client.send(Control(id=uuid.uuid4().hex, ts=time.time_ns(), component=NAME, command="stop"))
    assert await asyncio.to_thread(monitor_process.wait, 10) == 0
