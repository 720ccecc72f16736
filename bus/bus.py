"""The typed bus: messages in, messages out, over any :class:`Transport`.

Publishing encodes once and sends on the message's own subject (``subjects.subject_of``). Subscribing
decodes once at the edge; a payload that does not decode, or a handler that raises, never stops the
consumer: the raw payload is republished on ``dlq.<subject>`` with the error in the ``Basis-Error``
header and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from . import subjects
from .codec import decode, encode
from .errors import DecodeError
from .messages import Message
from .transport.base import ERROR_HEADER, Envelope, Subscription, Transport

log = logging.getLogger("basis.bus")

MessageHandler = Callable[[Any], Awaitable[None] | None]
"""A coroutine function, or a plain function for handlers that only update state (never publish nor wait):
those are called without the cost of a coroutine. Whatever the handler returns that is not None is
awaited, so a plain function may also return a coroutine only for the messages it acts on."""
ORIGINAL_SUBJECT_HEADER = "Basis-Original-Subject"
RUN_HEADER = "Basis-Run"
_PLAIN = subjects.SYS + "."
_Post = Callable[[str, bytes, Mapping[str, str] | None, Message], Awaitable[None] | None]
"""``InProcessTransport.post``: publish without a coroutine of its own."""


class Bus:
    """Typed publish/subscribe for one component."""

    def __init__(self, transport: Transport, *, component: str, run_id: str = "") -> None:
        self.transport = transport
        self.component = component
        self.run_id = run_id
        self._headers = {RUN_HEADER: run_id} if run_id else None
        self._post: _Post | None = getattr(transport, "post", None)
        """The in-process transport's way to publish without a coroutine of its own (see :meth:`send`)."""
        self.processed = 0
        self.dead_lettered = 0

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

        async def on_envelope(envelope: Envelope) -> None:
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

        # the shortcut an in-process transport may take for message objects (transport.base.Handler)
        on_envelope.accepts = accept  # type: ignore[attr-defined]
        on_envelope.direct = (handler, self)  # type: ignore[attr-defined]
        return await self.transport.subscribe(pattern, on_envelope, queue=queue)

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
