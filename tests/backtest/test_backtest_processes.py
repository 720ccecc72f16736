"""``basis backtest --processes``: every component in its own OS process, in lockstep over a real
nats-server, writes the same log (same digest) and the same summary as the in-process run, for every mode
that backtests (a short window each; the full windows are for the benchmark)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from backtestutil import finish, load_summary, read_log, run_cli, start_cli

from basis.bus.embedded import EmbeddedNats, free_port
from basis.bus.messages import InstructionFilled, InstructionRejected

WINDOWS = {
    "pure_lending_usdt": ("2024-06-01", "2024-06-04"),
    "btc_basis": ("2024-05-30", "2024-06-06"),  # the Binance hole of 2024-06-02 inside
    "eth_basis": ("2024-09-01", "2024-09-05"),
    "eth_staking_only": ("2024-06-01", "2024-06-04"),
    "eth_leveraged": ("2024-06-01", "2024-06-04"),
    "usdt_eth_staking_hedged_simple": ("2024-08-02", "2024-08-05"),
    "usdt_eth_staking_hedged_leveraged": ("2024-08-02", "2024-08-05"),
}
VOLATILE = {"wall_seconds", "store"}
"""Summary keys that describe the machine and the output folder, not the run."""


def summary_of(tmp_path: Path, name: str, mode: str, *extra: str) -> dict[str, Any]:
    start, end = WINDOWS[mode]
    out = tmp_path / name
    finished = run_cli(
        [
            "backtest",
            "--mode",
            mode,
            "--start",
            start,
            "--end",
            end,
            "--out",
            str(out),
            "-q",
            "--no-report",
            *extra,
        ],
        tmp_path,
    )
    assert finished.returncode == 0, finished.stderr
    return {k: v for k, v in load_summary(out).items() if k not in VOLATILE}


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(WINDOWS))
def test_processes_write_the_log_of_the_in_process_run(
    mode: str, tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    alone = summary_of(tmp_path, "in-process", mode)
    apart = summary_of(tmp_path, "processes", mode, "--processes", "--nats", nats_server.url)
    assert apart["log_digest"] == alone["log_digest"]
    assert apart == alone
    assert alone["instructions"]["total"] > 0 or mode == "pure_lending_usdt"


def test_nats_without_processes_is_a_usage_error(tmp_path: Path) -> None:
    finished = run_cli(["backtest", "--mode", "btc_basis", "--nats", "nats://127.0.0.1:1"], tmp_path)
    assert finished.returncode == 2
    assert "--nats is for --processes" in finished.stderr


# --- the server goes away mid-run ----------------------------------------------------------------------

LONG = ("2024-06-01", "2024-06-15")
READY = re.compile(r"basis\.backtest\.processes: (?P<name>[\w-]+) ready \(pid (?P<pid>\d+)\)")


def start_processes_run(
    tmp_path: Path, nats_url: str, pids: dict[str, int] | None = None
) -> subprocess.Popen[str]:
    """A two-week btc_basis run over processes; returns once every component process is ready (their
    pids in ``pids``)."""
    args = ["-v", "backtest", "--mode", "btc_basis", "--start", LONG[0], "--end", LONG[1]]
    process = start_cli(
        [*args, "--out", str(tmp_path / "processes"), "-q", "--no-report", "--processes", "--nats", nats_url],
        tmp_path,
    )
    assert process.stderr is not None
    for line in process.stderr:
        ready = READY.search(line)
        if ready and pids is not None:
            pids[ready["name"]] = int(ready["pid"])
        if ready and ready["name"] == "router":
            return process
    raise AssertionError(f"the run ended before its processes were ready:\n{finish(process, args).explain()}")


def in_process_digest(tmp_path: Path) -> str:
    out = tmp_path / "in-process"
    args = [
        "backtest",
        "--mode",
        "btc_basis",
        "--start",
        LONG[0],
        "--end",
        LONG[1],
        "--out",
        str(out),
        "-q",
        "--no-report",
    ]
    finished = run_cli(args, tmp_path)
    assert finished.returncode == 0, finished.explain()
    return str(load_summary(out)["log_digest"])


@pytest.mark.slow
def test_a_nats_server_restarted_mid_run_changes_nothing(tmp_path: Path) -> None:
    expected = in_process_digest(tmp_path)
    port = free_port()
    server = EmbeddedNats(tmp_path / "nats-1", port=port, jetstream=False).start()
    try:
        process = start_processes_run(tmp_path, server.url)
        time.sleep(1.0)  # the replay is under way
        server.stop()
        time.sleep(0.5)
        server = EmbeddedNats(tmp_path / "nats-2", port=port, jetstream=False).start()
        finished = finish(process, ["backtest", "--processes"])
    finally:
        server.stop()
    assert finished.returncode == 0, finished.explain()
    # the server went away mid-run: the clients saw it, and frames lost with it (when some were in flight
    # at that moment, which the machine's load decides) were sent again
    lost = "sending it again" in finished.stderr
    assert lost or "UnexpectedEOF" in finished.stderr or "Connect call failed" in finished.stderr
    assert load_summary(tmp_path / "processes")["log_digest"] == expected


@pytest.mark.slow
def test_losing_one_node_of_a_three_node_cluster_mid_run_changes_nothing(tmp_path: Path) -> None:
    expected = in_process_digest(tmp_path)
    clients = [free_port() for _ in range(3)]
    routes = [free_port() for _ in range(3)]
    all_routes = ",".join(f"nats://127.0.0.1:{p}" for p in routes)
    nodes = [
        EmbeddedNats(
            tmp_path / f"node-{i}",
            port=clients[i],
            jetstream=False,
            extra_args=(
                "--server_name",
                f"node-{i}",
                "--cluster_name",
                "basis",
                "--cluster",
                f"nats://127.0.0.1:{routes[i]}",
                "--routes",
                all_routes,
            ),
        ).start()
        for i in range(3)
    ]
    try:
        urls = ",".join(node.url for node in nodes)
        process = start_processes_run(tmp_path, urls)
        time.sleep(1.0)
        mid_run = process.poll() is None
        nodes[0].stop()  # every process is on it (the first server): they fail over to the others
        finished = finish(process, ["backtest", "--processes"])
    finally:
        for node in nodes:
            node.stop()
    assert finished.returncode == 0, finished.explain()
    assert mid_run, "the run ended before the node was lost"
    # the processes saw the node go: frames in flight were sent again, or none was in flight just then
    assert "sending it again" in finished.stderr or "unexpected EOF" in finished.stderr, finished.stderr
    assert load_summary(tmp_path / "processes")["log_digest"] == expected


@pytest.mark.slow
def test_every_component_killed_once_mid_run_is_brought_back_and_the_log_is_the_same(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """SIGKILL every component process once, in a random order at random points: each is started again,
    catches up from the frames it had answered, and the run writes the in-process run's log; every
    instruction has one answer in it (none was executed twice)."""
    expected = in_process_digest(tmp_path)
    pids: dict[str, int] = {}
    process = start_processes_run(tmp_path, nats_server.url, pids)
    rng = random.Random(7)
    victims = sorted(pids)
    rng.shuffle(victims)
    for name in victims:
        time.sleep(rng.uniform(0.1, 0.4))
        os.kill(pids[name], signal.SIGKILL)
    finished = finish(process, ["backtest", "--processes"])
    assert finished.returncode == 0, finished.explain()
    restarted = set(re.findall(r"([\w-]+) restarted \(pid", finished.stderr))
    assert restarted == set(victims), finished.stderr[-3000:]
    summary = load_summary(tmp_path / "processes")
    assert summary["log_digest"] == expected
    answers = Counter(
        m.instruction_id
        for _, _, m in read_log(summary["store"], summary["run_id"])
        if isinstance(m, InstructionFilled | InstructionRejected)
    )
    assert answers and set(answers.values()) == {1}
