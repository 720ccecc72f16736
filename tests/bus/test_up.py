"""``basis up --mode btc_basis --env paper``: every component as its own process under the supervisor, on
wall time with replayed market data; ``basis status`` finds them all healthy, the strategy trades through
the router, a killed component is started again, and Ctrl-C stops everything."""

from __future__ import annotations

import asyncio
import json
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
    store = f"sqlite:///{tmp_path / 'events.sqlite'}"
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
        "--store",
        store,
        "--run-id",
        "up-paper",
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
    # the feed first, the clock last, the recorder after everything it records
    assert stopped == [FEED, *reversed(system_components("btc_basis")), "recorder"]
    assert children(up.pid, "") == []
    dump = subprocess.run(
        [*BASIS, "log", "dump", "up-paper", "--store", store, "--subject", "cmd.router.>"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dump.returncode == 0, dump.stderr
    assert len(dump.stdout.splitlines()) >= len(routed) > 0  # the recorder kept what the router was sent


def test_up_simulation_is_the_lockstep_run_of_the_backtest(nats_server: EmbeddedNats, tmp_path: Path) -> None:
    """``--env simulation`` runs every component in its own process on historical time: the same log as
    the in-process backtest of the same window."""
    window = ["--start", "2024-06-01", "--end", "2024-06-03"]
    args = ["up", "--mode", "pure_lending_usdt", "--env", "simulation", "--nats", nats_server.url, *window]
    up = subprocess.run(
        [*BASIS, *args, "--run-dir", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    alone = subprocess.run(
        [*BASIS, "backtest", "--mode", "pure_lending_usdt", *window, "--out", str(tmp_path / "alone"), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert alone.returncode == 0, alone.stderr
    apart = json.loads((tmp_path / "run" / "out" / "summary.json").read_text())
    inside = json.loads((tmp_path / "alone" / "summary.json").read_text())
    assert apart["log_digest"] == inside["log_digest"]
    assert apart["final_equity"] == inside["final_equity"]


def test_up_takes_a_window_only_for_a_simulation(tmp_path: Path) -> None:
    result = subprocess.run(
        [*BASIS, "up", "--mode", "btc_basis", "--start", "2024-06-01", "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--start and --end are for --env simulation" in result.stderr
