"""``basis status``: ping the components of a running system (real processes on a real nats-server) and
report each one's heartbeat, or that it does not answer."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from basis.bus.embedded import EmbeddedNats, free_port

BASIS = [str(Path(sys.executable).parent / "basis")]
RUNNING = ("clock", "position-monitor", "sim-chain")


@pytest.fixture
def system(nats_server: EmbeddedNats, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Three components of pure_lending_usdt, each in its own process."""
    processes = []
    logs = []
    for name in RUNNING:
        log = (tmp_path / f"{name}.log").open("wb")
        logs.append(log)
        cmd = [*BASIS, "component", "run", name, "--nats", nats_server.url, "--mode", "pure_lending_usdt"]
        processes.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    yield processes
    for process in processes:
        process.terminate()
        process.wait(10)
    for log in logs:
        log.close()


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASIS, "status", *args], capture_output=True, text=True, timeout=60)


def test_every_running_component_answers(
    nats_server: EmbeddedNats, system: list[subprocess.Popen[bytes]]
) -> None:
    args = [arg for name in RUNNING for arg in ("--component", name)]
    deadline = time.monotonic() + 30
    while (result := status(*args, "--nats", nats_server.url, "--timeout", "1")).returncode != 0:
        assert all(p.poll() is None for p in system), "a component process exited"
        assert time.monotonic() < deadline, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [[name, "healthy"] for name in RUNNING]
    assert all("dead-lettered 0" in line for line in lines)


def test_the_components_of_a_mode_that_do_not_answer_are_named(
    nats_server: EmbeddedNats, system: list[subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + 30
    while True:
        result = status("--mode", "pure_lending_usdt", "--nats", nats_server.url, "--timeout", "1")
        answering = {line.split()[0] for line in result.stdout.splitlines() if " healthy " in line}
        if answering == set(RUNNING) or time.monotonic() > deadline:
            break
    assert result.returncode == 1
    assert answering == set(RUNNING)
    missing = ["exposure-monitor", "risk-monitor", "pnl-monitor", "router", "strategy"]
    assert result.stderr.strip() == f"5 of 8 not answering: {', '.join(missing)}"


def test_no_server_is_exit_status_1_and_no_target_a_usage_error() -> None:
    result = status("--component", "clock", "--nats", f"nats://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("basis: error: cannot connect to NATS at")
    result = status("--nats", "nats://127.0.0.1:1")
    assert result.returncode == 2 and "name the components to check" in result.stderr
