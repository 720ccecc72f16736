"""The store and the NATS transport against servers started by testcontainers, where Docker exists.

Machines without a Docker engine skip these (the other store and bus tests use the local PostgreSQL
and the bundled nats-server instead).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from basis.bus.store import digest, open_store


def _docker_reason() -> str | None:
    """Why testcontainers cannot run here, or None when a Docker engine answers."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return None  # a remote engine: let testcontainers try it
    path = host[len("unix://") :]
    if not os.path.exists(path):
        return f"no Docker engine for testcontainers (no socket at {path})"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        try:
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            answer = sock.recv(64)
        except OSError as exc:
            return f"no Docker engine for testcontainers ({path}: {exc})"
    if b" 200 " not in answer:
        return f"no Docker engine for testcontainers ({path} answered {answer[:32]!r})"
    return None


@pytest.fixture(scope="module")
def docker_available() -> None:
    reason = _docker_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres_container_url(docker_available: None) -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as pg:
        yield pg.get_connection_url().replace("postgresql+psycopg2://", "postgresql://")


def test_store_on_a_postgres_container(postgres_container_url: str) -> None:
    with open_store(postgres_container_url) as store:
        positions = store.append("run-1", [("md.bar.binance.BTCUSDT", b"{}"), ("evt.binance.filled", b"{}")])
        assert positions == [positions[0], positions[0] + 1]
        assert [r.subject for r in store.read(run_id="run-1")] == [
            "md.bar.binance.BTCUSDT",
            "evt.binance.filled",
        ]
        assert len(digest(store, "run-1")) == 64


async def test_nats_transport_on_a_nats_container(docker_available: None) -> None:
    from testcontainers.nats import NatsContainer

    from basis.bus.transport.nats import NatsTransport

    with NatsContainer("nats:2.10-alpine").with_command("-js") as nats:
        transport = await NatsTransport.connect(nats.nats_uri(), name="basis-test")
        try:
            reply = None

            async def echo(envelope):  # type: ignore[no-untyped-def]
                await transport.reply(envelope, envelope.data)

            await transport.subscribe("sys.control.echo", echo)
            reply = await transport.request("sys.control.echo", b"ping", timeout=5)
            assert reply.data == b"ping"
        finally:
            await transport.close()
