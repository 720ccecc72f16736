"""Fixtures of the bus tests: one transport contract, two transports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from basis.bus.embedded import EmbeddedNats
from basis.bus.transport.base import Transport
from basis.bus.transport.inprocess import InProcessTransport
from basis.bus.transport.nats import NatsTransport


@pytest.fixture(params=["inprocess", "nats"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    """The same contract, run once per transport (the NATS one on the session's real server)."""
    if request.param == "inprocess":
        t: Transport = InProcessTransport()
    else:
        server: EmbeddedNats = request.getfixturevalue("nats_server")
        nats_transport = await NatsTransport.connect(server.url, name="contract-test")
        await nats_transport.ensure_streams()
        t = nats_transport
    yield t
    await t.close()


@pytest.fixture
def prefix() -> str:
    """A subject token unique to the test, so tests sharing one server never see each other's traffic."""
    return "t" + uuid.uuid4().hex[:10]
