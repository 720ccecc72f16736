"""The typed bus: messages in, messages out, over any :class:`Transport`.

Publishing encodes once and sends on the message's own subject (``subjects.subject_of``). Subscribing
decodes once at the edge; a payload that does not decode, or a handler that raises, never stops the
consumer: the raw payload is republished on ``dlq.<subject>`` with the error in the ``Basis-Error``
header and counted.

A bus with a run id stamps what it publishes with the run (``Basis-Run``) and its component
(``Basis-Component``). A process restarted in paper or live mode rebuilds its component from the history
of its run through its bus (:mod:`basis.bus.rebuild`): it holds the deliveries that arrive meanwhile
(:meth:`Bus.hold`, :meth:`Bus.release`), hands each message of the history to the subscriptions it
matches (:meth:`Bus.redeliver`) and publishes nothing while rebuilding (:meth:`Bus.muted`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Container, Mapping
from typing import Any

from . import subjects
from .codec import decode, encode
from .errors import DecodeError, TransportError
from .messages import Message
from .transport.base import ERROR_HEADER, MSG_ID_HEADER, Envelope, Handler, Subscription, Transport

log = logging.getLogger("basis.bus")

MessageHandler = Callable[[Any], Awaitable[None] | None]
"""A coroutine function, or a plain function for handlers that only update state (never publish nor wait):
those are called without the cost of a coroutine. Whatever the handler returns that is not None is
awaited, so a plain function may also return a coroutine only for the messages it acts on."""
ORIGINAL_SUBJECT_HEADER = "Basis-Original-Subject"
RUN_HEADER = "Basis-Run"
COMPONENT_HEADER = "Basis-Component"
"""The component that published a durable message (with its run's ``Basis-Run``)."""
_PLAIN = subjects.SYS + "."
_Post = Callable[[str, bytes, Mapping[str, str] | None, Message], Awaitable[None] | None]
"""``InProcessTransport.post``: publish without a coroutine of its own."""


class Bus:
    """Typed publish/subscribe for one component."""

    def __init__(self, transport: Transport, *, component: str, run_id: str = "") -> None:
        self.transport = transport
        self.component = component
        self.run_id = run_id
        self._headers = {RUN_HEADER: run_id, COMPONENT_HEADER: component} if run_id else None
        self._post: _Post | None = getattr(transport, "post", None)
        """The in-process transport's way to publish without a coroutine of its own (see :meth:`send`)."""
        self.processed = 0
        self.dead_lettered = 0
        self.subscriptions: list[tuple[str, Handler]] = []
        """Each subscription's pattern and what a delivery to it runs (decode, filter, handle)."""
        self._held: list[tuple[Handler, Envelope]] | None = None
        """Deliveries kept back by :meth:`hold` (None: delivered as they arrive)."""

    def send(self, message: Message) -> Awaitable[None] | None:
        """Hand ``message`` to the transport; returns what must be awaited to finish the publish, or None
        when the message is already queued behind the delivery that is running (in-process). :meth:`publish`
        is ``send`` plus that await; a hot path that awaits the result itself saves the coroutine of
        :meth:`publish`."""
        subject = subjects.subject_of(message)
        data = encode(message)
        # The run header tags what the recorder stores (the durable families); plain sys.* subjects
        # (clock, heartbeats, control) go without it.
        headers = self._headers
        if headers is not None and subject.startswith(_PLAIN):
            headers = None
        post = self._post
        if post is not None:
            return post(subject, data, headers, message)
        return self.transport.publish(subject, data, headers=headers, msg_id=message.id, message=message)

    async def publish(self, message: Message) -> None:
        pending = self.send(message)
        if pending is not None:
            await pending

    async def subscribe(
        self,
        pattern: str,
        handler: MessageHandler,
        *,
        types: tuple[type[Message], ...] = (),
        queue: str = "",
    ) -> Subscription:
        """Deliver decoded messages matching ``pattern``.

        ``types`` filters: valid messages of other types are skipped silently; bytes that are not a
        valid message at all go to the dead-letter subject.
        """
        subjects.validate_pattern(pattern)
        accept = types or (Message,)

        async def deliver(envelope: Envelope) -> None:
            message = envelope.message
            if message is None:
                try:
                    message = decode(envelope.data)
                except DecodeError as exc:
                    await self.dead_letter(envelope, f"decode error: {exc}")
                    return
            if not isinstance(message, accept):
                return
            try:
                pending = handler(message)
                if pending is not None:
                    await pending
            except Exception as exc:  # a bad message must not stop the consumer
                await self.handler_failed(envelope, exc)
                return
            self.processed += 1

        async def on_envelope(envelope: Envelope) -> None:
            held = self._held
            if held is not None:
                held.append((deliver, envelope))
                return
            await deliver(envelope)

        # the shortcut an in-process transport may take for message objects (transport.base.Handler)
        on_envelope.accepts = accept  # type: ignore[attr-defined]
        on_envelope.direct = (handler, self)  # type: ignore[attr-defined]
        self.subscriptions.append((pattern, deliver))
        return await self.transport.subscribe(pattern, on_envelope, queue=queue)

    async def redeliver(self, envelope: Envelope) -> None:
        """Hand ``envelope`` to every subscription of this bus whose pattern it matches, in subscription
        order, as a delivery from the transport (a message of a restarted process's history)."""
        for pattern, deliver in self.subscriptions:
            if subjects.matches(pattern, envelope.subject):
                await deliver(envelope)

    def hold(self) -> None:
        """Keep back every delivery from now on, in arrival order, until :meth:`release` (a delivery the
        in-process transport makes directly to a handler is not kept back)."""
        if self._held is None:
            self._held = []

    async def release(self, skip: Container[str] = ()) -> int:
        """Deliver what :meth:`hold` kept back, in arrival order, but the durable messages whose id
        (``Nats-Msg-Id``) is in ``skip``; then deliver as messages arrive. Returns how many were delivered."""
        held = self._held
        delivered = 0
        while held:  # what arrives meanwhile is kept back too, behind them
            deliver, envelope = held.pop(0)
            if envelope.headers.get(MSG_ID_HEADER, "") in skip:
                continue
            await deliver(envelope)
            delivered += 1
        self._held = None
        return delivered

    def muted(self) -> Muted:
        """``with bus.muted():`` the bus publishes nothing (nor dead-letters): handlers run for their effect
        on state only."""
        return Muted(self)

    async def handler_failed(self, envelope: Envelope, exc: Exception) -> None:
        """A handler raised on ``envelope``: log it and dead-letter the payload (the consumer goes on)."""
        log.error(
            "%s: handler failed on %s: %s: %s",
            self.component,
            envelope.subject,
            type(exc).__name__,
            exc,
            exc_info=exc if log.isEnabledFor(logging.DEBUG) else None,  # the traceback with -vv
        )
        await self.dead_letter(envelope, f"handler error: {type(exc).__name__}: {exc}")

    async def dead_letter(self, envelope: Envelope, error: str) -> None:
        """Republish ``envelope``'s raw payload on ``dlq.<subject>`` with ``error``."""
        self.dead_lettered += 1
        if envelope.subject.startswith(subjects.DLQ + "."):
            log.error("%s: undeliverable dead letter on %s: %s", self.component, envelope.subject, error)
            return
        headers = {
            ERROR_HEADER: error[:1024],
            ORIGINAL_SUBJECT_HEADER: envelope.subject,
            **(self._headers or {}),
        }
        await self.transport.publish(subjects.dlq(envelope.subject), envelope.data, headers=headers)


class Muted:
    """What :meth:`Bus.muted` returns: the bus publishes through a transport that sends nothing inside."""

    __slots__ = ("_bus", "_saved")

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._saved: tuple[Transport, _Post | None] | None = None

    def __enter__(self) -> None:
        bus = self._bus
        self._saved = (bus.transport, bus._post)
        bus.transport, bus._post = _MUTED, None

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            self._bus.transport, self._bus._post = self._saved
            self._saved = None


class _Muted:
    """A transport that sends nothing."""

    async def publish(
        self,
        subject: str,
        data: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        msg_id: str | None = None,
        message: object | None = None,
    ) -> None:
        return None

    async def subscribe(self, pattern: str, handler: Handler, *, queue: str = "") -> Subscription:
        raise TransportError("a muted bus cannot subscribe")

    async def request(self, subject: str, data: bytes, *, timeout: float = 2.0) -> Envelope:
        raise TransportError("a muted bus cannot make a request")

    async def reply(self, envelope: Envelope, data: bytes) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


_MUTED: Transport = _Muted()
