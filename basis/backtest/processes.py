"""A backtest over processes: every component but the feed in its own OS process, in lockstep over NATS.

The backtest process keeps the feed, the recorder (the store writer) and the observers, and runs the
run's :class:`~basis.bus.transport.lockstep.LockstepConductor`. It starts the component processes one
after the other, in the order the in-process run starts its components, each once the previous one has
registered its subscriptions, so every message reaches its subscribers in the same order as in one
process: the log, and so the digest and the summary, are those of the in-process run.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from basis.bus.clock import SimClock
from basis.bus.embedded import EmbeddedNats
from basis.bus.transport.lockstep import LockstepConductor
from basis.process import LOCKSTEP_RECONNECT, component_command

from .errors import BacktestError

log = logging.getLogger("basis.backtest.processes")

START_TIMEOUT = 60.0
"""Seconds a component process has to start and register its subscriptions."""
MAX_RESTARTS = 3
"""Times a component process that died is started again before the run fails."""


def _override_args(overrides: Mapping[str, Any]) -> list[str]:
    import json

    out: list[str] = []
    for key, value in overrides.items():
        out += ["--set", f"{key}={json.dumps(value)}"]
    return out


class ComponentProcesses:
    """The component processes of one lockstep run and the NATS connection of its conductor."""

    def __init__(
        self,
        *,
        mode: str,
        environment: str,
        overrides: Mapping[str, Any],
        clock: SimClock,
        nats_url: str | None = None,
        logs: Path | None = None,
    ) -> None:
        self.mode = mode
        self.environment = environment
        self.overrides = dict(overrides)
        self.clock = clock
        self.nats_url = nats_url
        self.logs = logs or Path(tempfile.mkdtemp(prefix="basis-processes-"))
        self.run = uuid.uuid4().hex[:16]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, int] = {}
        self._restarting = asyncio.Lock()
        self._stopping = False
        self._own_logs = logs is None
        """One restart at a time: processes register their subscriptions one after the other."""
        self._clock_start = clock.now_ns()
        self._files: list[IO[bytes]] = []
        self._embedded: EmbeddedNats | None = None
        self._nc: Any = None
        self.conductor: LockstepConductor | None = None

    async def __aenter__(self) -> Self:
        import nats

        if self.nats_url is None:
            self._embedded = await EmbeddedNats(self.logs / "nats").astart()
            self.nats_url = self._embedded.url
        try:
            self._nc = await nats.connect(
                [u.strip() for u in self.nats_url.split(",") if u.strip()],
                name="basis-backtest-conductor",
                **LOCKSTEP_RECONNECT,
            )
        except (TimeoutError, OSError) as exc:
            await self._stop_server()
            raise BacktestError(f"--processes: cannot connect to NATS at {self.nats_url}: {exc!r}") from exc
        history = self.logs / "frames"
        history.mkdir(parents=True, exist_ok=True)
        self.conductor = LockstepConductor(
            self._nc, self.run, self.clock, history=history, on_silent=self._on_silent
        )
        await self.conductor.start()
        return self

    async def start(self, names: Sequence[str]) -> None:
        """Start the processes of ``names`` together; let each subscribe in turn, once the previous one is
        ready (the order of the in-process run)."""
        for name in names:
            self.processes[name] = self._spawn(name)
        for name, process in self.processes.items():
            await self._turn(name, process)

    def _spawn(self, name: str) -> subprocess.Popen[bytes]:
        assert self.nats_url is not None
        restarts = self.restarts.get(name, 0)
        out = (self.logs / (f"{name}.log" if not restarts else f"{name}.{restarts}.log")).open("wb")
        self._files.append(out)
        options = ["--lockstep", self.run, "--clock-start", str(self._clock_start)]
        cmd = component_command(
            name,
            self.nats_url,
            mode=self.mode,
            environment=self.environment,
            options=[*options, *_override_args(self.overrides)],
        )
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)

    async def _on_silent(self, name: str) -> bool:
        """Restart ``name`` when its process died; True once it has caught up with the run (never once
        the run is ending)."""
        if self._stopping:
            return False
        async with self._restarting:
            return await self._restart(name)

    async def _restart(self, name: str) -> bool:
        process = self.processes.get(name)
        if process is None or process.poll() is None:
            return False  # alive: slow, or the server is away
        restarts = self.restarts[name] = self.restarts.get(name, 0) + 1
        if restarts > MAX_RESTARTS:
            raise BacktestError(f"--processes: {name} died {restarts} times; see {self.logs}")
        log.warning("%s died (status %s): restarting it (%d)", name, process.returncode, restarts)
        assert self.conductor is not None
        self.processes[name] = process = self._spawn(name)
        await self._turn(name, process)
        frames = await self.conductor.replay_history(name)
        log.warning("%s restarted (pid %d), caught up with %d frames", name, process.pid, frames)
        return True

    async def _turn(self, name: str, process: subprocess.Popen[bytes]) -> None:
        assert self.conductor is not None
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while not await self.conductor.go(name):
            self._check_alive(name, process)
            if asyncio.get_running_loop().time() > deadline:
                raise BacktestError(f"--processes: {name} did not start within {START_TIMEOUT:g}s")
            await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(self.conductor.wait_ready(name, START_TIMEOUT))
        while not waiting.done():
            await asyncio.wait((waiting,), timeout=0.2)
            if not waiting.done() and process.poll() is not None:
                waiting.cancel()
                self._check_alive(name, process)
        try:
            waiting.result()
        except TimeoutError:
            raise BacktestError(f"--processes: {name} was not ready within {START_TIMEOUT:g}s") from None
        log.info("%s ready (pid %d)", name, process.pid)

    def _check_alive(self, name: str, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            raise BacktestError(
                f"--processes: {name} exited with status {process.returncode} before it was ready; "
                f"see {self.logs / f'{name}.log'}"
            )

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping = True
        try:
            if self.conductor is not None:
                await self.conductor.stop()
            statuses = await asyncio.gather(*(self._wait(p) for p in self.processes.values()))
            for name, status in zip(self.processes, statuses, strict=True):
                if status != 0 and exc is None:
                    log.warning("%s exited with status %s; see %s", name, status, self.logs / f"{name}.log")
        finally:
            for process in self.processes.values():
                if process.poll() is None:
                    process.kill()
            for out in self._files:
                out.close()
            if self._nc is not None:
                await self._nc.drain()
            await self._stop_server()
        if exc is None and self._own_logs:
            shutil.rmtree(self.logs, ignore_errors=True)  # kept when the run failed: the logs say why

    @staticmethod
    async def _wait(process: subprocess.Popen[bytes]) -> int:
        try:
            return await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            return await asyncio.to_thread(process.wait, 10)

    async def _stop_server(self) -> None:
        if self._embedded is not None:
            await self._embedded.astop()
            self._embedded = None
