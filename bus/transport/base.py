"""The transport port: bytes in, bytes out. Serialization is the caller's job (see ``basis.bus.codec``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

MSG_ID_HEADER = "Nats-Msg-Id"
ERROR_HEADER = "Basis-Error"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One delivery: the subject it was published on, its payload and headers.

    ``message`` carries the already-decoded message when the publisher handed one over in-process;
    consumers use it to skip decoding. ``reply`` is the inbox for request/reply.
    """

    subject: str
    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    reply: str = ""
    message: object | None = None


Handler = Callable[[Envelope], Awaitable[None]]


@runtime_checkable
class Subscription(Protocol):
    subject: str

    async def unsubscribe(self) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """Publish/subscribe/request over subjects with NATS wildcard semantics (``*``, ``>``).

    ``durable=True`` on publish asks for persistence (JetStream on NATS) with ``msg_id`` for
    de-duplication; plain publishes are fire-and-forget fan-out.
    """

    async def publish(
        self,
        subject: str,
        data: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        msg_id: str | None = None,
        message: object | None = None,
    ) -> None: ...

    async def subscribe(self, pattern: str, handler: Handler, *, queue: str = "") -> Subscription: ...

    async def request(self, subject: str, data: bytes, *, timeout: float = 2.0) -> Envelope: ...

    async def reply(self, envelope: Envelope, data: bytes) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...
