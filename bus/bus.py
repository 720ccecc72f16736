"""The typed bus: messages in, messages out, over any :class:`Transport`.

Publishing encodes once and sends on the message's own subject (``subjects.subject_of``). Subscribing
decodes once at the edge; a payload that does not decode, or a handler that raises, never stops the
consumer: the raw payload is republished on ``dlq.<subject>`` with the error in the ``Basis-Error``
header and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from . import subjects
from .codec import encode
from .messages import AnyMessage, Message
from .transport.base import ERROR_HEADER, Envelope, Subscription, Transport

log = logging.getLogger("basis.bus")

MessageHandler = Callable[[Any], Awaitable[None]]
ORIGINAL_SUBJECT_HEADER = "Basis-Original-Subject"
RUN_HEADER = "Basis-Run"

_any_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(AnyMessage)


class Bus:
    """Typed publish/subscribe for one component."""

    def __init__(self, transport: Transport, *, component: str, run_id: str = "") -> None:
        self.transport = transport
        self.component = component
        self.run_id = run_id
        self._headers = {RUN_HEADER: run_id} if run_id else None
        self.processed = 0
        self.dead_lettered = 0

    async def publish(self, message: Message) -> None:
        await self.transport.publish(
            subjects.subject_of(message),
            encode(message),
            headers=self._headers,
            msg_id=message.id,
            message=message,
        )

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
                    message = _any_decoder.decode(envelope.data)
                except msgspec.DecodeError as exc:
                    await self.dead_letter(envelope, f"decode error: {exc}")
                    return
            if not isinstance(message, accept):
                return
            try:
                await handler(message)
            except Exception as exc:  # a bad message must not stop the consumer
                log.exception("%s: handler failed on %s", self.component, envelope.subject)
                await self.dead_letter(envelope, f"handler error: {type(exc).__name__}: {exc}")
                return
            self.processed += 1

        return await self.transport.subscribe(pattern, on_envelope, queue=queue)

    async def dead_letter(self, envelope: Envelope, error: str) -> None:
        """Republish ``envelope``'s raw payload on ``dlq.<subject>`` with ``error``."""
        self.dead_lettered += 1
        if envelope.subject.startswith(subjects.DLQ + "."):
            log.error("%s: undeliverable dead letter on %s: %s", self.component, envelope.subject, error)
            return
        headers = {ERROR_HEADER: error[:1024], ORIGINAL_SUBJECT_HEADER: envelope.subject, **(self._headers or {})}
        await self.transport.publish(subjects.dlq(envelope.subject), envelope.data, headers=headers)
