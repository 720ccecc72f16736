"""A paper system of a mode run by a test: every component its own process on a real nats-server, as
``basis up --env paper`` runs them, but started, killed and started again by the test itself.

The exchanges' deposits arrive after ``--deposit-delay`` seconds instead of the 15 minutes of wall time
their configuration says (the only change to the configuration), so a basis trade enters within a test.
``python tests/bus/papersystem.py NAME --nats URL --run-id ID --deposit-delay S`` runs one component so.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from basis.bus.balances import BALANCE_EVENTS, PositionBook
from basis.bus.bus import RUN_HEADER
from basis.bus.codec import decode
from basis.bus.logs import log_to_stderr
from basis.bus.messages import Instruction, Message, PositionSnapshot
from basis.bus.transport.base import Envelope
from basis.bus.transport.nats import NatsTransport
from basis.configs import RunConfig, load_run_config
from basis.health import check_health
from basis.process import (
    DEFAULT_ENVIRONMENT,
    FEED,
    GATEWAY_PREFIX,
    MODE_COMPONENTS,
    ComponentFactory,
    ModeSetup,
    run_component,
    system_components,
)

MODE = "btc_basis"
SPEED = 36000.0
"""Ten hours of data per second: funding every 0.8 s once the perps are open."""


def quick_deposits(run: RunConfig, seconds: int) -> RunConfig:
    """``run`` with every venue's deposits and withdrawals taking at most ``seconds``."""
    venues = {}
    for name, venue in run.venues.items():
        transfers = getattr(venue.config, "transfers", None)
        if transfers is not None:
            quick = transfers.model_copy(
                update={
                    "deposit_delay_seconds": min(seconds, transfers.deposit_delay_seconds),
                    "withdrawal_delay_seconds": min(seconds, transfers.withdrawal_delay_seconds),
                }
            )
            venue = dataclasses.replace(venue, config=venue.config.model_copy(update={"transfers": quick}))
        venues[name] = venue
    return dataclasses.replace(run, venues=venues)


def factory_of(name: str, deposit_delay_s: int) -> ComponentFactory | None:
    """The factory of a mode component or gateway of :data:`MODE` with quick deposits (None: the component
    needs no mode)."""
    from basis.backtest.wiring import wire
    from basis.components.feed import discover
    from basis.data import DATA_ROOT

    if name not in MODE_COMPONENTS and not name.startswith(GATEWAY_PREFIX):
        return None
    run = quick_deposits(load_run_config(MODE, DEFAULT_ENVIRONMENT), deposit_delay_s)
    wiring = wire(run, discover([DATA_ROOT]))
    setup = ModeSetup(run, wiring.references, wiring.perp_marks, dict(wiring.venues))
    return MODE_COMPONENTS[name](setup) if name in MODE_COMPONENTS else setup.venues[name]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--nats", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--deposit-delay", type=int, required=True)
    args = parser.parse_args()
    log_to_stderr("INFO")
    factory = factory_of(args.name, args.deposit_delay)
    registry = None if factory is None else {args.name: factory}
    return asyncio.run(
        run_component(args.name, args.nats, args.run_id, registry=registry, mode=MODE, speed=SPEED)
    )


# --- the test's side ---------------------------------------------------------------------------------


class PaperSystem:
    """The processes of one paper run of :data:`MODE`; each process's log in ``logs/<name>-<n>.log``."""

    def __init__(self, url: str, run_id: str, logs: Path, *, deposit_delay_s: int) -> None:
        self.url = url
        self.run_id = run_id
        self.logs = logs
        self.deposit_delay_s = deposit_delay_s
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: Counter[str] = Counter()
        self._files: list[IO[bytes]] = []

    @property
    def names(self) -> list[str]:
        return system_components(MODE)

    def start(self, name: str) -> subprocess.Popen[bytes]:
        self.starts[name] += 1
        log = (self.logs / f"{name}-{self.starts[name]}.log").open("wb")
        self._files.append(log)
        args = [
            name,
            "--nats",
            self.url,
            "--run-id",
            self.run_id,
            "--deposit-delay",
            str(self.deposit_delay_s),
        ]
        process = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.processes[name] = process
        return process

    async def up(self, timeout: float = 60.0) -> None:
        """Start every component, wait until each answers a ping, then start the feed."""
        for name in self.names:
            self.start(name)
        await self.until_healthy(self.names, timeout)
        self.start(FEED)

    async def until_healthy(self, names: list[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            health = await check_health(self.url, names, timeout=1.0)
            down = [h.component for h in health if not h.healthy]
            if not down:
                return
            dead = [n for n in names if self.processes[n].poll() is not None]
            assert not dead and time.monotonic() < deadline, f"not up: {dead or down}\n{self.tail()}"

    def pause(self, name: str) -> None:
        """Stop the process of ``name`` where it is (SIGSTOP), until :meth:`resume`."""
        self.processes[name].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGCONT)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL

    def log(self, name: str, start: int) -> str:
        return (self.logs / f"{name}-{start}.log").read_text()

    def tail(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text().splitlines()[-15:])
            for path in sorted(self.logs.glob("*.log"))
        )

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for log in self._files:
            log.close()


class Observer:
    """Every durable message of one run, in arrival order, as the test sees it on the bus."""

    def __init__(self, transport: NatsTransport, run_id: str) -> None:
        self.transport = transport
        self.run_id = run_id
        self.seen: list[tuple[str, Message]] = []

    @classmethod
    async def on(cls, url: str, run_id: str) -> Observer:
        transport = await NatsTransport.connect(url, name="observer")
        await transport.ensure_streams()
        observer = cls(transport, run_id)
        for pattern in ("cmd.>", "evt.>"):
            await transport.subscribe(pattern, observer._keep)
        return observer

    async def _keep(self, envelope: Envelope) -> None:
        headers: Mapping[str, str] = envelope.headers
        if headers.get(RUN_HEADER) == self.run_id:
            self.seen.append((envelope.subject, decode(envelope.data)))

    def of(self, kind: type[Message]) -> list[Message]:
        return [m for _, m in self.seen if isinstance(m, kind)]

    def on_subject(self, prefix: str) -> list[Message]:
        return [m for subject, m in self.seen if subject.startswith(prefix)]

    async def until(self, condition: object, what: str, system: PaperSystem, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{system.tail()}"
            await asyncio.sleep(0.05)

    def instruction_ids(self) -> Counter[str]:
        return Counter(m.id for m in self.on_subject("cmd.") if isinstance(m, Instruction))

    def balance_events(self) -> list[str]:
        return [m.id for _, m in self.seen if isinstance(m, BALANCE_EVENTS)]

    async def stream_book(self, through: str | None = None) -> dict[str, float]:
        """The book of the run's balance events up to the one with id ``through`` (None: all of them),
        booked in the order the stream holds them."""
        [stored] = await self.transport.read_history(["evt.*.*"], header=RUN_HEADER, value=self.run_id)
        book = PositionBook()
        for message in (decode(m.data) for m in stored):
            if isinstance(message, BALANCE_EVENTS):
                book.apply_event(message)
                if message.id == through:
                    return book.snapshot()
        assert through is None, f"no balance event {through}"
        return book.snapshot()

    async def settled(self, system: PaperSystem, quiet: float = 2.0) -> list[str]:
        """The balance events of the run once none came for ``quiet`` seconds and every one was answered by a
        position snapshot."""
        deadline = time.monotonic() + 30.0
        while True:
            events = self.balance_events()
            await asyncio.sleep(quiet)
            answered = {m.through for m in self.of(PositionSnapshot) if isinstance(m, PositionSnapshot)}
            if self.balance_events() == events and set(events) <= answered:
                return events
            assert time.monotonic() < deadline, f"balance events never settled\n{system.tail()}"

    async def close(self) -> None:
        await self.transport.close()


if __name__ == "__main__":
    sys.exit(main())
