"""``basis up --mode btc_basis --env paper``: every component as its own process under the supervisor, on
wall time with replayed market data; ``basis status`` finds them all healthy, the strategy trades through
the router, a killed component is started again, and Ctrl-C stops everything."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from basis.bus.bus import Bus
from basis.bus.embedded import EmbeddedNats
from basis.bus.messages import Instruction, Message
from basis.bus.transport.nats import NatsTransport
from basis.process import FEED, system_components

BASIS = [str(Path(sys.executable).parent / "basis")]


def children(parent: int, name: str) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-P", str(parent), "-f", f"basis.components {name} "], capture_output=True
    )
    return [int(pid) for pid in found.stdout.split()]


def status(url: str) -> subprocess.CompletedProcess[str]:
    args = [*BASIS, "status", "--mode", "btc_basis", "--component", FEED, "--nats", url, "--timeout", "2"]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


async def until_healthy(url: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + timeout
    while (result := await asyncio.to_thread(status, url)).returncode != 0:
        assert time.monotonic() < deadline, result.stdout + result.stderr
        await asyncio.sleep(0.5)
    return result


@pytest.mark.slow
async def test_up_runs_every_component_and_stops_them_all(nats_server: EmbeddedNats, tmp_path: Path) -> None:
    transport = await NatsTransport.connect(nats_server.url)
    routed: list[Message] = []

    async def keep(message: Message) -> None:
        routed.append(message)

    await Bus(transport, component="tester").subscribe("cmd.router.*", keep, types=(Instruction,))
    args = [
        "-v",
        "up",
        "--mode",
        "btc_basis",
        "--env",
        "paper",
        "--speed",
        "36000",
        "--nats",
        nats_server.url,
    ]
    up_log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [*BASIS, *args, "--run-dir", str(tmp_path / "run")], stdout=subprocess.DEVNULL, stderr=up_log
    )
    try:
        healthy = await until_healthy(nats_server.url)
        names = [line.split()[0] for line in healthy.stdout.splitlines()]
        assert names == [*system_components("btc_basis"), FEED]

        deadline = time.monotonic() + 60
        while not routed:  # the capital arrives with the replayed data and the strategy enters
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            await asyncio.sleep(0.5)

        [router] = children(up.pid, "router")
        subprocess.run(["kill", "-9", str(router)], check=True)
        deadline = time.monotonic() + 30
        while not (restarted := children(up.pid, "router")) or restarted == [router]:
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            await asyncio.sleep(0.2)
        await until_healthy(nats_server.url)
        assert "router restarted (1)" in (tmp_path / "up.log").read_text()
    finally:
        up.send_signal(signal.SIGINT)
        status_code = await asyncio.to_thread(up.wait, 60)
        up_log.close()
        await transport.close()
    assert status_code == 0
    log = (tmp_path / "up.log").read_text()
    stopped = [
        line.split("basis.up: ")[1].split()[0] for line in log.splitlines() if line.endswith(" stopped")
    ]
    assert stopped == [FEED, *reversed(system_components("btc_basis"))]  # the feed first, the clock last
    assert children(up.pid, "") == []
