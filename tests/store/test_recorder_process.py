"""Acceptance: the recorder as its own OS process, killed with SIGKILL mid-stream and restarted, loses
nothing and stores nothing twice."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from storeutil import T0

from basis.bus import subjects
from basis.bus.bus import Bus
from basis.bus.codec import encode
from basis.bus.embedded import EmbeddedNats
from basis.bus.ids import SequentialIds
from basis.bus.messages import OraclePrice
from basis.bus.store import LogStore, digest, digest_records, open_store, sqlite_url
from basis.bus.transport.nats import NatsTransport

TOTAL = 5000


class RecorderProcess:
    """``python -m basis.components.recorder`` as a child process."""

    def __init__(self, nats_url: str, store_url: str, log_path: Path) -> None:
        self.cmd = [
            sys.executable, "-m", "basis.components.recorder",
            "--nats", nats_url, "--store", store_url, "--batch", "25", "--log-level", "WARNING",
        ]  # fmt: skip
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(15)

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def recorder(private_nats: EmbeddedNats, tmp_path: Path) -> Iterator[RecorderProcess]:
    process = RecorderProcess(
        private_nats.url, sqlite_url(tmp_path / "log.sqlite"), tmp_path / "recorder.log"
    )
    yield process
    process.ensure_stopped()


async def count(store: LogStore, run_id: str) -> int:
    info = await asyncio.to_thread(store.run_info, run_id)
    return info.messages if info else 0


async def wait_for_count(
    store: LogStore, run_id: str, at_least: int, process: RecorderProcess, timeout: float = 30
) -> int:
    deadline = asyncio.get_running_loop().time() + timeout
    while (n := await count(store, run_id)) < at_least:
        assert process.process is not None
        if process.process.poll() is not None:
            raise AssertionError(f"recorder exited with {process.process.returncode}:\n{process.log()}")
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{n} of {at_least} recorded within {timeout}s:\n{process.log()}")
        await asyncio.sleep(0.002)
    return n


@pytest.mark.slow
async def test_sigkilled_recorder_resumes_without_gap_or_duplicate(
    private_nats: EmbeddedNats, recorder: RecorderProcess, tmp_path: Path
) -> None:
    run_id = "accept-" + uuid.uuid4().hex[:8]
    ids = SequentialIds(run_id, "feed")
    messages = [
        OraclePrice(
            id=ids.next_id(),
            ts=T0 + i,
            venue="aave_v3",
            asset=("WETH", "USDT", "WBTC")[i % 3],
            quote="USD",
            price=float(i),
        )
        for i in range(TOTAL)
    ]
    published = [(subjects.subject_of(m), encode(m)) for m in messages]

    transport = await NatsTransport.connect(private_nats.url, name="acceptance-feed")
    store = open_store(sqlite_url(tmp_path / "log.sqlite"))
    try:
        await transport.ensure_streams()
        bus = Bus(transport, component="feed", run_id=run_id)  # Basis-Run header, Nats-Msg-Id = message id
        for m in messages[: TOTAL // 2]:
            await bus.publish(m)
        await transport.flush()

        recorder.start()
        at_kill = await wait_for_count(store, run_id, 600, recorder)
        recorder.kill()  # mid-stream: batches fetched, maybe committed, maybe acked
        after_kill = await count(store, run_id)
        assert at_kill <= after_kill < TOTAL // 2, "the recorder was not killed mid-stream"

        for m in messages[TOTAL // 2 :]:  # the feed goes on while no recorder runs
            await bus.publish(m)
        for m in messages[:50]:  # and retries a few publishes (de-duplicated by Nats-Msg-Id)
            await bus.publish(m)
        await transport.flush()
        assert await transport.stream_message_count("BASIS_MD") == TOTAL

        recorder.start()
        second = await wait_for_count(store, run_id, after_kill + 1000, recorder)
        recorder.kill()
        assert second < TOTAL, "the recorder was not killed mid-stream the second time"

        recorder.start()
        await wait_for_count(store, run_id, TOTAL, recorder)
        await asyncio.sleep(0.5)  # nothing more may arrive
        assert recorder.terminate() == 0, recorder.log()

        records = list(store.read(run_id=run_id))
        assert len(records) == TOTAL
        assert [(r.subject, r.data) for r in records] == published  # every message once, in publish order
        assert [r.seq for r in records] == list(range(1, TOTAL + 1))
        assert [r.position for r in records] == list(range(1, TOTAL + 1))
        assert store.upstream_position("BASIS_MD") == TOTAL
        assert digest(store, run_id) == digest_records(published)
    finally:
        store.close()
        await transport.close()


@pytest.mark.parametrize("module", ["basis.components.recorder", "basis.components"])
def test_an_unknown_log_level_is_a_usage_error_naming_it(module: str) -> None:
    args = [sys.executable, "-m", module, "--log-level", "chatty"]
    args += ["--nats", "nats://127.0.0.1:1"] if module.endswith("recorder") else ["position-monitor"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "--log-level: invalid choice: 'CHATTY'" in proc.stderr
