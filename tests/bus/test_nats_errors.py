"""nats-py failures surface as the bus's own errors, with the original as the cause."""

from __future__ import annotations

from pathlib import Path

import nats.errors
import pytest

from basis.bus.embedded import EmbeddedNats, free_port
from basis.bus.errors import RequestTimeout, TransportError
from basis.bus.transport.nats import NatsTransport


async def test_connect_to_nothing_fails_with_transport_error() -> None:
    with pytest.raises(TransportError, match="cannot connect"):
        await NatsTransport.connect(
            f"nats://127.0.0.1:{free_port()}", max_reconnect_attempts=1, reconnect_time_wait=0.05
        )


async def test_request_timeout_keeps_the_nats_error_as_cause(nats_server: EmbeddedNats) -> None:
    transport = await NatsTransport.connect(nats_server.url)
    try:
        with pytest.raises(RequestTimeout) as caught:
            await transport.request("sys.nobody.home", b"", timeout=0.5)
        assert isinstance(caught.value.__cause__, nats.errors.Error)
    finally:
        await transport.close()


async def test_publish_after_close_fails_with_transport_error(nats_server: EmbeddedNats) -> None:
    transport = await NatsTransport.connect(nats_server.url)
    await transport.close()
    with pytest.raises(TransportError):
        await transport.publish("sys.anything", b"")


async def test_flush_reports_durable_publishes_no_stream_accepted(tmp_path: Path) -> None:
    async with EmbeddedNats(tmp_path) as server:  # streams never created on this server
        transport = await NatsTransport.connect(server.url)
        try:
            await transport.publish("evt.lost.filled", b"{}", msg_id="1")
            with pytest.raises(TransportError, match="JetStream publishes failed"):
                await transport.flush()
            await transport.flush()  # the failure is reported once
        finally:
            await transport.close()
