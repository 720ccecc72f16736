"""The tight loop position → exposure → risk → PnL as four OS processes on one real NATS server."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.embedded import EmbeddedNats
from basis.bus.messages import (
    Bar,
    ClockTicked,
    Control,
    FlowBooked,
    GasPrice,
    Heartbeat,
    Message,
    PnlSnapshot,
)
from basis.bus.transport.nats import NatsTransport
from basis.components.pricing import DEFAULT_REFERENCES

MODE = "pure_lending_usdt"
LOOP = ("position-monitor", "exposure-monitor", "risk-monitor", "pnl-monitor")
TIMEOUT = 20.0


def new_id() -> str:
    return uuid.uuid4().hex


class LoopClient:
    """The test's side of the bus: publishes as ``tester``, collects heartbeats and PnL snapshots."""

    def __init__(self, transport: NatsTransport) -> None:
        self.transport = transport
        self.bus = Bus(transport, component="tester", run_id="loop-test")
        self.heartbeats: dict[str, asyncio.Queue[Heartbeat]] = {name: asyncio.Queue() for name in LOOP}
        self.pnl: asyncio.Queue[PnlSnapshot] = asyncio.Queue()

    async def start(self) -> None:
        for name, queue in self.heartbeats.items():
            await self.bus.subscribe(subjects.heartbeat(name), queue.put, types=(Heartbeat,))
        await self.bus.subscribe(subjects.evt("pnl", "snapshot"), self.pnl.put, types=(PnlSnapshot,))

    async def send(self, message: Message) -> None:
        await self.bus.publish(message)
        await self.transport.flush()

    async def control(self, name: str, command: str) -> Control:
        message = Control(id=new_id(), ts=time.time_ns(), component=name, command=command)  # type: ignore[arg-type]
        await self.send(message)
        return message

    async def wait_until_up(self, name: str, process: subprocess.Popen[bytes]) -> None:
        """Ping ``name`` until it answers: its subscriptions are in place once it does."""
        deadline = time.monotonic() + TIMEOUT
        queue = self.heartbeats[name]
        while True:
            assert process.poll() is None, f"{name} exited with {process.returncode}"
            ping = await self.control(name, "ping")
            try:
                while (await asyncio.wait_for(queue.get(), 0.3)).causation_id != ping.id:
                    pass
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    async def pnl_of(self, correlation_id: str) -> PnlSnapshot:
        async with asyncio.timeout(TIMEOUT):
            while True:
                snapshot = await self.pnl.get()
                if snapshot.correlation_id == correlation_id:
                    return snapshot


@pytest.fixture
def loop_processes(nats_server: EmbeddedNats, tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = []
    try:
        for name in LOOP:
            log = (tmp_path / f"{name}.log").open("wb")
            logs.append(log)
            cmd = [sys.executable, "-m", "basis.components", name, "--nats", nats_server.url]
            cmd += ["--run-id", "loop-test", "--mode", MODE]
            processes[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        yield processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            if process.poll() is None:
                process.wait(10)
        for log in logs:
            log.close()


@pytest.fixture
async def client(nats_server: EmbeddedNats) -> AsyncIterator[LoopClient]:
    transport = await NatsTransport.connect(nats_server.url, name="loop-tester")
    await transport.ensure_streams()
    c = LoopClient(transport)
    await c.start()
    yield c
    await transport.close()


async def test_tight_loop_runs_as_four_processes(
    loop_processes: dict[str, subprocess.Popen[bytes]], client: LoopClient
) -> None:
    for name, process in loop_processes.items():
        await client.wait_until_up(name, process)

    now = time.time_ns()
    venue, symbol, market = DEFAULT_REFERENCES["ETH"][:3]
    assert market == "spot"
    await client.send(
        GasPrice(
            id=new_id(), ts=now, chain="ethereum", base_fee_gwei=10.0, priority_fee_gwei=1.0, price_gwei=11.0
        )
    )
    await client.send(
        Bar(
            id=new_id(),
            ts=now,
            venue=venue,
            symbol=symbol,
            market=market,
            open_ts=now - 3600 * 1_000_000_000,
            interval_s=3600,
            open=3000.0,
            high=3000.0,
            low=3000.0,
            close=3000.0,
            volume=1.0,
        )
    )
    deposit = FlowBooked(
        id=new_id(), ts=now, kind="deposit", amount=1000.0, asset="USDT", instrument="wallet:BaseToken:USDT"
    )
    await client.send(deposit)
    await client.send(ClockTicked(id=new_id(), ts=now))

    snapshot = await client.pnl_of(deposit.id)
    assert snapshot.share_class == "USDT"
    assert snapshot.equity == 1000.0
    assert snapshot.net_flows == 1000.0
    assert snapshot.pnl == 0.0

    # two stop on command, two on SIGTERM; every one exits cleanly
    for name in LOOP[:2]:
        await client.control(name, "stop")
    for name in LOOP[2:]:
        loop_processes[name].send_signal(signal.SIGTERM)
    for name, process in loop_processes.items():
        assert await asyncio.to_thread(process.wait, TIMEOUT) == 0, name
