"""In-process transport: deterministic delivery inside one event loop (backtests, tests).

Delivery order, which every run reproduces exactly:

* FIFO over publishes: messages are delivered in the order they were published, across all subjects.
* For one message, subscribers are called one after the other in subscription order. A queue group
  takes the place of its earliest-subscribed member that matches; within the group one member gets
  the message, round-robin in subscription order.
* ``await publish(...)`` called when no delivery is running delivers the message and the whole
  cascade it causes (messages published by handlers, by their handlers, ...) before it returns.
  Handlers that publish do not recurse: their messages are queued behind the current one and
  delivered by the loop already running (a trampoline), so deep cascades use constant stack.

A publish made while a delivery is running (from a handler, or from another task while a handler is
suspended on real I/O) is queued and delivered by the running loop, in FIFO order. A ``request`` made
from a handler delivers queued messages itself until its reply arrives.

Handlers may also be plain functions (called without a coroutine: for handlers that only record or
update state). A message handed over as an object (``Envelope.message``) skips the handlers whose
``accepts`` types do not include it (see :data:`~basis.bus.transport.base.Handler`); the others are called
in the same order as without that shortcut.

Wildcards follow NATS (``*`` one token, ``>`` one or more trailing tokens). A handler that raises is
logged and counted in :attr:`InProcessTransport.handler_errors`; it never stops delivery to the other
subscribers, as on NATS. Headers mappings are shared with subscribers, not copied: treat them as
read-only. ``msg_id`` is accepted and ignored: nothing is stored in-process, so there is nothing to
de-duplicate.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from types import MappingProxyType
from typing import Any

from ..errors import RequestTimeout, SubjectError, TransportError
from ..subjects import is_durable, tokens_match, validate_pattern
from .base import ACCEPTS, DIRECT, Envelope, Handler

log = logging.getLogger("basis.bus.inprocess")

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_INBOX_PREFIX = "_INBOX"
_instances = itertools.count(1)


class InProcessSubscription:
    """One subscription; :meth:`unsubscribe` stops delivery of messages not yet being delivered."""

    __slots__ = ("_transport", "handler", "queue", "subject", "tokens")

    def __init__(self, transport: InProcessTransport, subject: str, handler: Handler, queue: str) -> None:
        self.subject = subject
        self.queue = queue
        self.handler = handler
        self.tokens = subject.split(".")
        self._transport = transport

    async def unsubscribe(self) -> None:
        self._transport._remove(self)


class _QueueGroup:
    """Members of one queue group matching one subject; hands each message to the next member."""

    __slots__ = ("cursor", "members")

    def __init__(self, members: list[Handler]) -> None:
        self.members = tuple(members)
        self.cursor = 0

    async def deliver(self, envelope: Envelope) -> None:
        members = self.members
        handler = members[self.cursor % len(members)]
        self.cursor += 1
        await handler(envelope)


class InProcessTransport:
    """A :class:`~basis.bus.transport.base.Transport` that never leaves the process."""

    def __init__(self) -> None:
        self._subs: list[InProcessSubscription] = []
        self._routes: dict[str, tuple[Handler, ...]] = {}
        self._typed_routes: dict[type, dict[str, tuple[tuple[Any, Any], ...]]] = {}
        self._queue: deque[Envelope] = deque()
        self._depth = 0
        self._inbox = f"{_INBOX_PREFIX}.{next(_instances)}"
        self._inbox_seq = 0
        self._inbox_sub: InProcessSubscription | None = None
        self._waiting: dict[str, asyncio.Future[Envelope]] = {}
        self._closed = False
        self.delivered = 0
        self.handler_errors = 0

    # --- routing ---------------------------------------------------------------------------------

    def _route(self, subject: str) -> tuple[Handler, ...]:
        """The handlers for ``subject`` in delivery order; cached until the next (un)subscribe."""
        route = self._routes.get(subject)
        if route is not None:
            return route
        tokens = subject.split(".")
        for tok in tokens:
            if not tok or tok == "*" or tok == ">" or " " in tok:
                raise SubjectError(f"invalid publish subject {subject!r}")
        targets: list[Handler | list[Handler]] = []
        groups: dict[str, list[Handler]] = {}
        for sub in self._subs:
            if not tokens_match(sub.tokens, tokens):
                continue
            if not sub.queue:
                targets.append(sub.handler)
            elif sub.queue in groups:
                groups[sub.queue].append(sub.handler)
            else:
                members = groups[sub.queue] = [sub.handler]
                targets.append(members)
        route = tuple(t if not isinstance(t, list) else _QueueGroup(t).deliver for t in targets)
        self._routes[subject] = route
        return route

    def _typed_route(self, subject: str, kind: type) -> tuple[tuple[Any, Any], ...]:
        """What to call for a message object of type ``kind`` on ``subject``: ``(call, owner)`` per handler
        that accepts the type (queue groups: all): a handler's ``direct`` shortcut (see
        :data:`~basis.bus.transport.base.DIRECT`), else ``(handler, None)``, called with the envelope."""
        route = self._route(subject)
        typed: list[tuple[Any, Any]] = []
        for handler in route:
            accepts = getattr(handler, ACCEPTS, None)
            if accepts is not None and not issubclass(kind, accepts):
                continue
            direct = getattr(handler, DIRECT, None)
            typed.append(tuple(direct) if accepts is not None and direct is not None else (handler, None))
        self._typed_routes.setdefault(kind, {})[subject] = result = tuple(typed)
        return result

    def _remove(self, sub: InProcessSubscription) -> None:
        try:
            self._subs.remove(sub)
        except ValueError:
            return
        self._routes.clear()
        self._typed_routes.clear()

    # --- delivery --------------------------------------------------------------------------------

    async def _drain(self, until: asyncio.Future[Envelope] | None = None) -> None:
        """Deliver queued messages in FIFO order until the queue is empty (or ``until`` is done)."""
        queue = self._queue
        routes = self._routes
        typed_routes = self._typed_routes
        self._depth += 1
        try:
            while queue:
                if until is not None and until.done():
                    return
                envelope = queue.popleft()
                message = envelope.message
                if message is None:
                    route = routes.get(envelope.subject)
                    if route is None:
                        route = self._route(envelope.subject)
                    for handler in route:
                        try:
                            pending = handler(envelope)
                            if pending is not None:
                                await pending
                        except Exception:
                            self.handler_errors += 1
                            log.exception("handler failed on %s", envelope.subject)
                else:
                    by_subject = typed_routes.get(type(message))
                    typed = by_subject.get(envelope.subject) if by_subject is not None else None
                    if typed is None:
                        typed = self._typed_route(envelope.subject, type(message))
                    for call, owner in typed:
                        try:
                            if owner is None:
                                pending = call(envelope)
                                if pending is not None:
                                    await pending
                                continue
                            try:
                                pending = call(message)  # a plain function returns None: no coroutine
                                if pending is not None:
                                    await pending
                            except Exception as exc:  # the bus logs it and dead-letters
                                await owner.handler_failed(envelope, exc)
                            else:
                                owner.processed += 1
                        except Exception:
                            self.handler_errors += 1
                            log.exception("handler failed on %s", envelope.subject)
                self.delivered += 1
        finally:
            self._depth -= 1

    async def publish(
        self,
        subject: str,
        data: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        msg_id: str | None = None,
        message: object | None = None,
    ) -> None:
        pending = self.post(subject, data, headers, message)
        if pending is not None:
            await pending

    def post(
        self,
        subject: str,
        data: bytes,
        headers: Mapping[str, str] | None = None,
        message: object | None = None,
    ) -> Coroutine[Any, Any, None] | None:
        """:meth:`publish` without a coroutine of its own: queue the message, then return None when a
        delivery is running (it delivers the message, in FIFO order), else the delivery of the queue,
        which the caller must await (as :meth:`publish` does). One coroutine less per publish."""
        if subject not in self._routes:
            self._route(subject)  # validates the subject before it is queued
        self._queue.append(Envelope(subject, data, _NO_HEADERS if headers is None else headers, "", message))
        if self._depth:
            return None
        return self._drain()

    async def subscribe(
        self, pattern: str, handler: Handler | Callable[[Envelope], None], *, queue: str = ""
    ) -> InProcessSubscription:
        if self._closed:
            raise TransportError("transport is closed")
        validate_pattern(pattern)
        sub = InProcessSubscription(self, pattern, handler, queue)  # type: ignore[arg-type]
        self._subs.append(sub)
        self._routes.clear()
        self._typed_routes.clear()
        return sub

    # --- request / reply -------------------------------------------------------------------------

    async def _on_reply(self, envelope: Envelope) -> None:
        future = self._waiting.pop(envelope.subject, None)
        if future is not None and not future.done():
            future.set_result(envelope)

    async def request(self, subject: str, data: bytes, *, timeout: float = 2.0) -> Envelope:
        """Publish ``data`` with a reply inbox and wait for the first reply.

        Called from a handler, the request delivers queued messages itself until the reply arrives,
        so a component may ask another component while handling a message.
        """
        if is_durable(subject):
            raise SubjectError(f"request/reply is for plain subjects, {subject!r} is durable")
        if not self._route(subject):
            raise RequestTimeout(f"no responders on {subject!r}")
        if self._inbox_sub is None:
            self._inbox_sub = await self.subscribe(f"{self._inbox}.*", self._on_reply)
        self._inbox_seq += 1
        inbox = f"{self._inbox}.{self._inbox_seq}"
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._waiting[inbox] = future
        self._queue.append(Envelope(subject, data, _NO_HEADERS, inbox))
        try:
            await self._drain(None if not self._depth else future)
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise RequestTimeout(f"no reply on {subject!r} within {timeout}s") from exc
        finally:
            self._waiting.pop(inbox, None)

    async def reply(self, envelope: Envelope, data: bytes) -> None:
        if not envelope.reply:
            raise TransportError(f"message on {envelope.subject!r} has no reply subject")
        await self.publish(envelope.reply, data)

    # --- lifecycle -------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Deliver anything still queued (only possible after a handler was suspended)."""
        if self._queue and not self._depth:
            await self._drain()

    async def close(self) -> None:
        await self.flush()
        self._closed = True
        self._subs.clear()
        self._routes.clear()
        self._typed_routes.clear()
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
