"""NATS transport over nats-py.

Subjects of the durable families (``subjects.STREAMS``: ``md``, ``cmd``, ``evt``, ``dlq``) are published
through JetStream with ``Nats-Msg-Id`` set to the message id, so a retried publish is stored once.
By default the publish does not wait for the stream's acknowledgement: acks are collected in the
background and :meth:`NatsTransport.flush` waits for every outstanding one (raising
:class:`~basis.bus.errors.TransportError` if any failed). Everything else is a plain core publish.

Subscriptions are core subscriptions (wildcards, queue groups); they see durable subjects too, live.
Consumers that must not miss a message (the recorder) read a stream through
:meth:`NatsTransport.durable_consumer` instead; a restarted process reads the history of its run once,
through :meth:`NatsTransport.read_history`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext
from nats.js.api import PubAck, StorageType, StreamConfig

from ..credentials import Credentials, login_options
from ..errors import RequestTimeout, SubjectError, TransportError
from ..subjects import STREAMS, Stream, is_durable, stream_of, validate_pattern
from .base import MSG_ID_HEADER, Envelope, Handler
from .jetstream import DurableConsumer, StoredMessage, open_durable_consumer, read_stream

log = logging.getLogger("basis.bus.nats")

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_STREAM_NAME_IN_USE = 10058  # JetStream: stream name already in use with a different configuration

DEFAULT_DUPLICATE_WINDOW = 120.0  # seconds


def _as_dict(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """nats-py wants a dict; a core publish does not change it, so a dict is passed as it is."""
    if not headers:
        return None
    return headers if isinstance(headers, dict) else dict(headers)


class NatsSubscriptionHandle:
    """A core subscription made through :meth:`NatsTransport.subscribe`."""

    __slots__ = ("_sub", "queue", "subject")

    def __init__(self, subject: str, queue: str, sub: NatsSubscription) -> None:
        self.subject = subject
        self.queue = queue
        self._sub = sub

    async def unsubscribe(self) -> None:
        try:
            await self._sub.unsubscribe()
        except nats.errors.Error as exc:
            raise TransportError(f"unsubscribe from {self.subject!r} failed: {exc!r}") from exc


class NatsTransport:
    """A :class:`~basis.bus.transport.base.Transport` over one NATS connection.

    ``sync_acks=True`` waits for JetStream's acknowledgement of every durable publish instead of
    collecting acks in the background (slower, but each ``publish`` returns only once stored).
    """

    def __init__(
        self,
        nc: Client,
        *,
        sync_acks: bool = False,
        ack_timeout: float = 5.0,
    ) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=ack_timeout)
        self.sync_acks = sync_acks
        self.ack_timeout = ack_timeout
        self._acks: set[asyncio.Future[PubAck]] = set()
        self._ack_errors: list[BaseException] = []
        self.duplicates = 0

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        name: str | None = None,
        connect_timeout: float = 2.0,
        max_reconnect_attempts: int = 60,
        reconnect_time_wait: float = 1.0,
        sync_acks: bool = False,
        ack_timeout: float = 5.0,
        credentials: Credentials | None = None,
    ) -> NatsTransport:
        """Connect to ``url`` (``nats://host:port``, or several separated by commas).

        It logs in as ``credentials``, else as the user of ``$BASIS_NATS_USER`` / ``$BASIS_NATS_PASSWORD``
        when they are set (:mod:`basis.bus.credentials`), else without a user.

        The first connection is retried ``max_reconnect_attempts`` times, ``reconnect_time_wait``
        seconds apart, before :class:`TransportError` is raised, naming the server's last answer (a
        refused login: ``Authorization Violation``); a dropped connection is retried the same way.
        ``max_reconnect_attempts`` <= 0 retries forever.
        """
        answer: list[Exception] = []  # the server's last word (a refused login), not the socket it closed

        async def on_error(exc: Exception) -> None:
            if isinstance(exc, nats.errors.Error) or not answer:
                answer[:] = [exc]
            log.warning("nats %s: %r", url, exc)

        servers = [u.strip() for u in url.split(",") if u.strip()]
        login = login_options(credentials)
        try:
            nc = await nats.connect(
                servers,
                name=name,
                **login,
                error_cb=on_error,
                connect_timeout=connect_timeout,
                max_reconnect_attempts=max_reconnect_attempts,
                reconnect_time_wait=reconnect_time_wait,
            )
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            cause = answer[0] if answer else exc
            raise TransportError(f"cannot connect to NATS at {url}: {cause!r}") from exc
        return cls(nc, sync_acks=sync_acks, ack_timeout=ack_timeout)

    @property
    def url(self) -> str:
        connected = self.nc.connected_url
        return connected.geturl() if connected is not None else ""

    # --- streams ---------------------------------------------------------------------------------

    async def ensure_streams(
        self,
        streams: Iterable[Stream] = STREAMS,
        *,
        duplicate_window: float = DEFAULT_DUPLICATE_WINDOW,
        max_age: float | None = None,
    ) -> None:
        """Create (or bring up to date) one file-backed stream per durable family.

        ``duplicate_window`` (seconds) is how long JetStream remembers a ``Nats-Msg-Id``;
        ``max_age`` (seconds) bounds retention, None keeps everything.
        """
        for stream in streams:
            config = StreamConfig(
                name=stream.name,
                subjects=list(stream.subjects),
                storage=StorageType.FILE,
                duplicate_window=duplicate_window,
                max_age=max_age,
            )
            try:
                try:
                    await self.js.add_stream(config)
                except nats.js.errors.BadRequestError as exc:
                    if exc.err_code != _STREAM_NAME_IN_USE:
                        raise
                    await self.js.update_stream(config)
            except nats.errors.Error as exc:
                raise TransportError(f"cannot create stream {stream.name}: {exc!r}") from exc

    async def stream_message_count(self, stream: str, subject: str | None = None) -> int:
        """Messages stored in ``stream`` (only those on ``subject`` when given; wildcards allowed)."""
        try:
            info = await self.js.stream_info(stream, subjects_filter=subject)
        except nats.errors.Error as exc:
            raise TransportError(f"cannot read stream {stream}: {exc!r}") from exc
        if subject is None:
            return info.state.messages
        return sum((info.state.subjects or {}).values())

    async def durable_consumer(
        self,
        stream: str,
        durable: str,
        *,
        filter_subject: str | None = None,
        ack_wait: float = 30.0,
        max_ack_pending: int = 20_000,
        start_sequence: int | None = None,
        recreate: bool = False,
    ) -> DurableConsumer:
        """A pull consumer on ``stream`` that remembers its position under the name ``durable``.

        See :class:`~basis.bus.transport.jetstream.DurableConsumer`: fetch a batch, commit it, ack it;
        whatever was fetched but not acked within ``ack_wait`` seconds is delivered again. A new
        consumer starts at the stream's first message or at ``start_sequence``; ``recreate`` drops an
        existing one first (to move its start).
        """
        return await open_durable_consumer(
            self.nc,
            self.js,
            stream,
            durable,
            filter_subject=filter_subject,
            ack_wait=ack_wait,
            max_ack_pending=max_ack_pending,
            start_sequence=start_sequence,
            recreate=recreate,
        )

    async def read_history(
        self, patterns: Iterable[str], *, header: str, value: str
    ) -> list[list[StoredMessage]]:
        """What the streams hold on the durable ``patterns`` now, one list per stream in stream order, only
        the messages whose ``header`` is ``value`` (a run's: ``Basis-Run``)."""
        by_stream: dict[str, list[str]] = {}
        for pattern in patterns:
            stream = stream_of(pattern)
            if stream is None:
                raise SubjectError(f"{pattern!r} is not in a stream: it has no history")
            by_stream.setdefault(stream.name, []).append(pattern)
        out: list[list[StoredMessage]] = []
        for stream_name, wanted in by_stream.items():
            stored = await read_stream(self.js, stream_name, wanted)
            out.append([m for m in stored if m.headers.get(header) == value])
        return out

    # --- publish / subscribe ---------------------------------------------------------------------

    def _on_ack(self, future: asyncio.Future[PubAck]) -> None:
        self._acks.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            log.error("JetStream publish failed: %r", exc)
            self._ack_errors.append(exc)
        elif future.result().duplicate:
            self.duplicates += 1

    async def publish(
        self,
        subject: str,
        data: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        msg_id: str | None = None,
        message: object | None = None,
    ) -> None:
        try:
            if not is_durable(subject):
                await self.nc.publish(subject, data, headers=_as_dict(headers))
                return
            hdrs = dict(headers) if headers else {}
            if msg_id:
                hdrs[MSG_ID_HEADER] = msg_id
            if self.sync_acks:
                ack = await self.js.publish(subject, data, timeout=self.ack_timeout, headers=hdrs or None)
                self.duplicates += bool(ack.duplicate)
                return
            future = await self.js.publish_async(
                subject, data, wait_stall=self.ack_timeout, headers=hdrs or None
            )
        except nats.errors.Error as exc:
            raise TransportError(f"publish on {subject!r} failed: {exc!r}") from exc
        self._acks.add(future)
        future.add_done_callback(self._on_ack)

    async def subscribe(self, pattern: str, handler: Handler, *, queue: str = "") -> NatsSubscriptionHandle:
        """Subscribe to ``pattern``; the server knows about the subscription when this returns."""
        validate_pattern(pattern)

        async def on_msg(msg: Msg) -> None:
            subject = msg.subject
            # A durable publish carries the publisher's JetStream ack inbox as reply: not for consumers.
            reply = "" if is_durable(subject) else msg.reply
            envelope = Envelope(subject, msg.data, msg.headers or _NO_HEADERS, reply)
            try:
                await handler(envelope)
            except Exception:
                log.exception("handler failed on %s", subject)

        try:
            sub = await self.nc.subscribe(pattern, queue=queue, cb=on_msg)
            await self.nc.flush()
        except nats.errors.Error as exc:
            raise TransportError(f"subscribe to {pattern!r} failed: {exc!r}") from exc
        return NatsSubscriptionHandle(pattern, queue, sub)

    async def request(self, subject: str, data: bytes, *, timeout: float = 2.0) -> Envelope:
        """Core request/reply; only on plain subjects (a stream would answer a durable one)."""
        if is_durable(subject):
            raise SubjectError(f"request/reply is for plain subjects, {subject!r} is durable")
        try:
            msg = await self.nc.request(subject, data, timeout=timeout)
        except nats.errors.NoRespondersError as exc:
            raise RequestTimeout(f"no responders on {subject!r}") from exc
        except nats.errors.TimeoutError as exc:
            raise RequestTimeout(f"no reply on {subject!r} within {timeout}s") from exc
        except nats.errors.Error as exc:
            raise TransportError(f"request on {subject!r} failed: {exc!r}") from exc
        return Envelope(msg.subject, msg.data, msg.headers or _NO_HEADERS, msg.reply)

    async def reply(self, envelope: Envelope, data: bytes) -> None:
        if not envelope.reply:
            raise TransportError(f"message on {envelope.subject!r} has no reply subject")
        try:
            await self.nc.publish(envelope.reply, data)
        except nats.errors.Error as exc:
            raise TransportError(f"reply to {envelope.reply!r} failed: {exc!r}") from exc

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def pending_acks(self) -> int:
        return len(self._acks)

    async def flush(self, timeout: float | None = None) -> None:
        """Send everything buffered and wait for every outstanding JetStream ack.

        Raises :class:`TransportError` if an ack failed or did not arrive within ``timeout``
        (default ``ack_timeout``); acks still outstanding then are abandoned.
        """
        timeout = self.ack_timeout if timeout is None else timeout
        try:
            await self.nc.flush(timeout=max(1, int(timeout)))
        except nats.errors.Error as exc:
            raise TransportError(f"flush failed: {exc!r}") from exc
        if self._acks:
            pending = tuple(self._acks)
            _, late = await asyncio.wait(pending, timeout=timeout)
            if late:
                for future in late:
                    future.cancel()
                raise TransportError(f"{len(late)} JetStream acks did not arrive within {timeout}s")
        if self._ack_errors:
            errors, self._ack_errors = self._ack_errors, []
            raise TransportError(
                f"{len(errors)} JetStream publishes failed; first: {errors[0]!r}"
            ) from errors[0]

    async def close(self) -> None:
        """Wait for outstanding acks, let subscriptions finish what they hold, and disconnect."""
        if self.nc.is_closed:
            return
        try:
            await self.flush()
        except TransportError as exc:
            log.error("closing with unconfirmed publishes: %s", exc)
        try:
            await self.nc.drain()
        except nats.errors.Error as exc:
            log.warning("drain failed (%r); closing", exc)
            await self.nc.close()
