"""The transport port: bytes in, bytes out. Serialization is the caller's job (see ``basis.bus.codec``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, runtime_checkable

import msgspec

MSG_ID_HEADER = "Nats-Msg-Id"
ERROR_HEADER = "Basis-Error"


class Envelope(msgspec.Struct, frozen=True):
    """One delivery: the subject it was published on, its payload and headers.

    ``message`` carries the already-decoded message when the publisher handed one over in-process;
    consumers use it to skip decoding. ``reply`` is the inbox for request/reply. (A frozen msgspec
    Struct rather than a dataclass: one is built per delivery, and this is several times cheaper.)
    """

    subject: str
    data: bytes
    headers: Mapping[str, str] = msgspec.field(default_factory=dict)
    reply: str = ""
    message: object | None = None


Handler = Callable[[Envelope], Awaitable[None]]
"""Called with each delivery. A handler may carry an ``accepts`` attribute (a tuple of message types,
see :data:`ACCEPTS`): it acts only on messages of those types, so a transport that hands over message
objects (``Envelope.message``) may skip it for messages of any other type. Deliveries without a message
object (raw bytes, to be decoded) always reach it."""

ACCEPTS = "accepts"
DIRECT = "direct"
"""A handler that carries ``accepts`` may also carry ``direct = (on_message, owner)``: ``on_message(message)``
does what the handler does with a message object of an accepted type, without the envelope (what it
returns, when not None, is awaited: a plain function needs no coroutine); ``owner.processed`` is
incremented after each success and ``owner.handler_failed(envelope, exc)`` is awaited when it raises (the
bus logs and dead-letters). An in-process transport may call these instead of the handler: one call per
delivery instead of two."""


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
