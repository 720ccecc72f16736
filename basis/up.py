"""``basis up``: every component of a mode as its own process, under a supervisor.

The supervisor starts the components in the order they depend on each other (the clock, the venue
gateways, the monitors, the router, the strategy), waits until each answers a ping, then starts the
feed. A process that exits is started again after a back-off (1 s, doubled per restart in a row, at
most 30 s; reset once it has run for a minute); a monitor, the strategy or the router started again is
rebuilt from the history of its run first (:mod:`basis.bus.rebuild`). On SIGINT or SIGTERM it stops them in the reverse order
(SIGTERM, then SIGKILL after 10 s) and stops the nats-server it started. Without ``--nats`` it starts
the embedded nats-server (JetStream on) in ``run_dir``.

``--env paper``: simulated venues, the wall clock, and the mode's historical series replayed on wall
time (:mod:`basis.components.paper_feed`) standing in for a live feed; with ``--store`` the recorder
runs too and appends every durable message to that event store. ``--env simulation`` (historical time,
deterministic) runs the mode over its data window as ``basis backtest --processes`` does: each component
its own process, in lockstep, restarted by that run's supervisor if it dies.

``--auth`` runs the system with one NATS user per component (:mod:`basis.bus.permissions`), each allowed
to publish only its own subjects. The embedded nats-server is started with the configuration of the
system's users (``<run_dir>/nats.conf``, readable by its owner only: it holds the passwords); with
``--nats`` the server was configured by ``basis nats-config`` and every password comes from
``$BASIS_NATS_PASSWORD_<USER>``. Each process gets its own user and password in its environment
(``$BASIS_NATS_USER``, ``$BASIS_NATS_PASSWORD``: :mod:`basis.bus.credentials`), never on its command line,
and none of the others' passwords; the supervisor pings as ``operator``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from basis.bus import permissions as p
from basis.bus.bus import Bus
from basis.bus.clock import LiveClock
from basis.bus.credentials import PASSWORD_ENV, USER_ENV, Credentials
from basis.bus.embedded import EmbeddedNats, free_port
from basis.bus.ids import RandomIds
from basis.bus.transport.inprocess import InProcessTransport
from basis.health import check_health
from basis.process import (
    DEFAULT_ENVIRONMENT,
    FEED,
    RECORDER,
    component_command,
    gateways_of,
    load_mode_setup,
    recorder_command,
)
from basis.venues.simulated.chain import CHAIN

log = logging.getLogger("basis.up")

BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_S = 60.0
"""A process that ran this long before it exited is restarted after the first back-off again."""
READY_TIMEOUT_S = 90.0
CONFIG_FILE = "nats.conf"
"""The nats-server configuration of a system run with ``--auth``, in its run directory."""


def chain_venues(mode: str, environment: str = DEFAULT_ENVIRONMENT) -> list[str]:
    """The venues the simulated chain of ``mode`` hosts (none when the mode has no chain)."""
    make = load_mode_setup(mode, environment).venues.get(CHAIN)
    if make is None:
        return []
    chain = make(Bus(InProcessTransport(), component=CHAIN), LiveClock(), RandomIds())
    return [gateway.venue for gateway in gateways_of(chain)]


@dataclass(frozen=True, slots=True)
class Logins:
    """The NATS users of one system (:func:`~basis.bus.permissions.system_permissions`) and their
    passwords, which ``repr`` never shows."""

    users: tuple[p.Permissions, ...]
    passwords: Mapping[str, str] = field(repr=False)

    @classmethod
    def of_system(
        cls,
        components: Sequence[str],
        chain: Sequence[str],
        *,
        generate: bool,
        environ: Mapping[str, str] | None = None,
    ) -> Logins:
        """The users of ``components`` (the simulated chain hosting the venues ``chain``); each password
        from ``$BASIS_NATS_PASSWORD_<USER>``, or generated when ``generate`` (a server this system
        configures itself) — else a missing one is a :class:`~basis.bus.errors.BusError`."""
        users = p.system_permissions(components, chain)
        names = [user.user for user in users]
        chosen = p.passwords(names, environ) if generate else p.required_passwords(names, environ)
        return cls(users, chosen)

    def of(self, component: str) -> Credentials:
        """The login of the process of ``component``."""
        user = p.user_for(component)
        return Credentials(user, self.passwords[user])

    @property
    def operator(self) -> Credentials:
        return Credentials(p.OPERATOR, self.passwords[p.OPERATOR])

    def environment(self, component: str, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` for the process of ``component``: its own login, and no password of another user."""
        env = {
            name: value
            for name, value in base.items()
            if not name.startswith(p.PASSWORD_ENV_PREFIX) and name not in (USER_ENV, PASSWORD_ENV)
        }
        return env | self.of(component).environ()

    def config(self, server: EmbeddedNats) -> str:
        """The configuration of the nats-server ``server`` with these users; JetStream's store is the
        one its command line names (nats-server refuses a second ``store_dir`` in the file)."""
        return p.render_config(self.users, self.passwords, port=server.port, host=server.host)


@dataclass
class Supervised:
    """One component process and its restart bookkeeping."""

    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str] | None = field(default=None, repr=False)
    """The process's environment (None: this one's); it holds its NATS password."""
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    backoff: float = BACKOFF_S
    due: float | None = None
    """When an exited process is started again (None: it is running, or never started)."""
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        if self._log is None:
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        self.started = time.monotonic()
        self.due = None

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 10.0) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


class Supervisor:
    """The processes of one system (see the module doc)."""

    def __init__(
        self,
        mode: str,
        names: Sequence[str],
        *,
        environment: str,
        nats_url: str | None,
        run_dir: Path,
        run_id: str,
        speed: float,
        clock_period: float,
        store: str | None = None,
        logins: Logins | None = None,
    ) -> None:
        self.mode = mode
        self.names = list(names)
        """The components to run but the feed, in dependency order (``system_components``)."""
        self.environment = environment
        self.nats_url = nats_url
        self.run_dir = run_dir
        self.run_id = run_id
        self.speed = speed
        self.clock_period = clock_period
        self.store = store
        """The event store the recorder (when it is one of ``names``) appends to."""
        self.logins = logins
        """One NATS user per component (``--auth``); None: every process connects without a user."""
        self.components: list[Supervised] = []
        self.stopping = asyncio.Event()
        self._embedded: EmbeddedNats | None = None

    def command(self, name: str) -> list[str]:
        assert self.nats_url is not None
        if name == RECORDER:
            assert self.store is not None, "the recorder needs a store"
            return recorder_command(self.nats_url, self.store)
        options = ["--run-id", self.run_id]
        if name == "clock":
            options += ["--clock-period", str(self.clock_period)]
        if name == FEED:
            options += ["--speed", str(self.speed)]
        return component_command(
            name, self.nats_url, mode=self.mode, environment=self.environment, options=options
        )

    async def run(self) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.nats_url is None:
            self._embedded = await self._start_nats()
            self.nats_url = self._embedded.url
        log.info("nats on %s; logs in %s", self.nats_url, self.run_dir)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            for name in self.names:
                self._add(name).start()
            if not await self._wait_healthy(self.names):
                return 1
            self._add(FEED).start()
            log.info("every component is up; the feed runs at %g× wall time (Ctrl-C stops)", self.speed)
            await self._supervise()
            return 0
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self._stop_all()

    async def _start_nats(self) -> EmbeddedNats:
        """The embedded nats-server; with :attr:`logins`, started with their configuration."""
        if self.logins is None:
            return await EmbeddedNats(self.run_dir / "nats").astart()
        config = self.run_dir / CONFIG_FILE
        server = EmbeddedNats(self.run_dir / "nats", port=free_port(), config=config)
        p.write_config(config, self.logins.config(server))
        log.info("nats users: %s (configuration %s)", ", ".join(u.user for u in self.logins.users), config)
        return await server.astart()

    def _add(self, name: str) -> Supervised:
        env = None if self.logins is None else self.logins.environment(name, os.environ)
        supervised = Supervised(name, self.command(name), self.run_dir / f"{name}.log", env)
        self.components.append(supervised)
        return supervised

    async def _wait_healthy(self, names: list[str]) -> bool:
        assert self.nats_url is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.stopping.is_set():
            operator = None if self.logins is None else self.logins.operator
            health = await check_health(self.nats_url, names, timeout=1.0, credentials=operator)
            down = [h.component for h in health if not h.healthy]
            if not down:
                return True
            dead = [c.name for c in self.components if c.exited() is not None]
            if dead or time.monotonic() > deadline:
                log.error("not up: %s; see the logs in %s", ", ".join(dead or down), self.run_dir)
                return False
        return False

    async def _supervise(self) -> None:
        while not self.stopping.is_set():
            now = time.monotonic()
            for component in self.components:
                status = component.exited()
                if status is not None and component.due is None:
                    if now - component.started >= STABLE_S:
                        component.backoff = BACKOFF_S
                    component.due = now + component.backoff
                    log.warning(
                        "%s exited (status %s): restarting it in %gs",
                        component.name,
                        status,
                        component.backoff,
                    )
                    component.backoff = min(MAX_BACKOFF_S, component.backoff * 2)
                if component.due is not None and now >= component.due:
                    component.restarts += 1
                    component.start()
                    log.warning("%s restarted (%d)", component.name, component.restarts)
            try:
                await asyncio.wait_for(self.stopping.wait(), 0.5)
            except TimeoutError:
                pass

    async def _stop_all(self) -> None:
        for component in reversed(self.components):  # the feed first, the clock last
            await asyncio.to_thread(component.stop)
            log.info("%s stopped", component.name)
        if self._embedded is not None:
            await self._embedded.astop()
