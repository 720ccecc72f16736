"""Helpers of the bus tests."""

from __future__ import annotations

import asyncio

from basis.bus.transport.base import Envelope, Transport
from basis.bus.transport.nats import NatsTransport


class Collector:
    """A handler that keeps every envelope it is given."""

    def __init__(self) -> None:
        self.items: list[Envelope] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.items.append(envelope)

    @property
    def subjects(self) -> list[str]:
        return [e.subject for e in self.items]

    @property
    def payloads(self) -> list[bytes]:
        return [e.data for e in self.items]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Envelope]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.items) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"got {len(self.items)} of {count} messages within {timeout}s")
            await asyncio.sleep(0.005)
        return self.items


async def settle(transport: Transport) -> None:
    """Let everything already published reach its subscribers (for checks that something did NOT arrive).

    In-process delivery is done when publish returns; over NATS a flush round trip puts every earlier
    message in the client's queues, and a short pause lets the subscription tasks run.
    """
    await transport.flush()
    if isinstance(transport, NatsTransport):
        await asyncio.sleep(0.05)
