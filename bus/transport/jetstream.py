"""Durable, at-least-once reading of a JetStream stream (the recorder's input), and a one-off read of what
a stream holds (the history a restarted process rebuilds from: :func:`read_stream`).

::

    consumer = await transport.durable_consumer("BASIS_EVT", "recorder")
    async for batch in consumer.batches(size=500):
        store.append([(m.sequence, m.subject, m.data, m.headers) for m in batch])   # commit first
        await consumer.ack(batch)                                                  # then ack

A message fetched but not acked within the consumer's ``ack_wait`` (for instance because the process
died before committing) is delivered again, with ``delivered`` > 1; ``sequence`` (the stream
sequence) lets the caller skip what it already committed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ..errors import TransportError
from ..subjects import covers, overlaps

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message read from a stream: its stream sequence, subject, payload and headers."""

    stream: str
    sequence: int
    subject: str
    data: bytes
    headers: Mapping[str, str]
    delivered: int = 1
    _msg: Msg | None = field(default=None, repr=False, compare=False)


class DurableConsumer:
    """A durable pull consumer with explicit acks. Build it with ``NatsTransport.durable_consumer``."""

    def __init__(self, client: NATS, sub: JetStreamContext.PullSubscription, stream: str, name: str) -> None:
        self._client = client
        """The connection the acks go out on (flushed so that :meth:`ack` returns once they are sent)."""
        self._sub = sub
        self.stream = stream
        self.name = name
        self._closed = False

    async def fetch(self, size: int = 256, *, timeout: float = 1.0) -> list[StoredMessage]:
        """Up to ``size`` messages, waiting at most ``timeout`` seconds; [] when none arrived."""
        try:
            msgs = await self._sub.fetch(size, timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except nats.errors.Error as exc:
            raise TransportError(f"fetch from {self.stream}/{self.name} failed: {exc!r}") from exc
        out: list[StoredMessage] = []
        for msg in msgs:
            meta = msg.metadata
            out.append(
                StoredMessage(
                    stream=meta.stream,
                    sequence=meta.sequence.stream,
                    subject=msg.subject,
                    data=msg.data,
                    headers=msg.headers or _NO_HEADERS,
                    delivered=meta.num_delivered,
                    _msg=msg,
                )
            )
        return out

    async def batches(self, size: int = 256, *, timeout: float = 1.0) -> AsyncIterator[list[StoredMessage]]:
        """Non-empty batches, forever (until :meth:`close`); ack each one after committing it."""
        while not self._closed:
            batch = await self.fetch(size, timeout=timeout)
            if batch:
                yield batch

    async def ack(self, messages: Iterable[StoredMessage]) -> None:
        """Acknowledge ``messages``; returns once the server has received the acks."""
        try:
            for message in messages:
                if message._msg is not None and not message._msg.is_acked:
                    await message._msg.ack()
            await self._client.flush()
        except nats.errors.Error as exc:
            raise TransportError(f"ack on {self.stream}/{self.name} failed: {exc!r}") from exc

    async def nak(self, messages: Iterable[StoredMessage], *, delay: float | None = None) -> None:
        """Ask for ``messages`` to be delivered again (after ``delay`` seconds)."""
        try:
            for message in messages:
                if message._msg is not None and not message._msg.is_acked:
                    await message._msg.nak(delay=delay)
            await self._client.flush()
        except nats.errors.Error as exc:
            raise TransportError(f"nak on {self.stream}/{self.name} failed: {exc!r}") from exc

    async def pending(self) -> int:
        """Messages in the stream this consumer has not been delivered yet."""
        try:
            info = await self._sub.consumer_info()
        except nats.errors.Error as exc:
            raise TransportError(f"consumer info for {self.stream}/{self.name} failed: {exc!r}") from exc
        return int(info.num_pending or 0)

    async def close(self) -> None:
        """Stop fetching; the consumer (and its position) stays on the server."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._sub.unsubscribe()
        except (nats.errors.Error, ValueError):
            pass


async def open_durable_consumer(
    client: NATS,
    js: JetStreamContext,
    stream: str,
    durable: str,
    *,
    filter_subject: str | None = None,
    ack_wait: float = 30.0,
    max_ack_pending: int = 20_000,
    start_sequence: int | None = None,
    recreate: bool = False,
) -> DurableConsumer:
    """Bind to the durable consumer ``durable`` on ``stream``, creating it if it does not exist.

    A new consumer starts at the beginning of the stream, or at ``start_sequence`` when given. An
    existing one keeps its configuration and position unless ``recreate`` deletes it first.
    """
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL if start_sequence is None else DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=start_sequence,
        ack_wait=ack_wait,
        max_ack_pending=max_ack_pending,
        filter_subject=filter_subject,
    )
    try:
        if recreate:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_consumer(stream, durable)
        sub = await js.pull_subscribe(filter_subject or "", durable=durable, stream=stream, config=config)
    except nats.errors.Error as exc:
        raise TransportError(f"cannot open consumer {durable} on {stream}: {exc!r}") from exc
    return DurableConsumer(client, sub, stream, durable)


def stream_filters(patterns: Iterable[str]) -> list[str]:
    """``patterns`` as the subject filters of one consumer: without those another covers, and a single
    ``>`` filter of the whole stream (its family, ``evt.>``) when two still overlap (JetStream refuses
    overlapping filters)."""
    kept: list[str] = []
    for pattern in dict.fromkeys(patterns):
        if any(covers(other, pattern) for other in kept):
            continue
        kept = [other for other in kept if not covers(pattern, other)]
        kept.append(pattern)
    if any(overlaps(a, b) for i, a in enumerate(kept) for b in kept[i + 1 :]):
        return [kept[0].split(".", 1)[0] + ".>"]
    return kept


async def read_stream(
    js: JetStreamContext,
    stream: str,
    patterns: Sequence[str],
    *,
    batch: int = 1000,
    timeout: float = 5.0,
) -> list[StoredMessage]:
    """Every message ``stream`` holds on ``patterns`` when this is called, in stream order: an ephemeral
    consumer that acks nothing and is deleted once read. Messages stored meanwhile are not read."""
    filters = stream_filters(patterns)
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        filter_subjects=filters if len(filters) > 1 else None,
        inactive_threshold=60.0,
        mem_storage=True,
    )
    out: list[StoredMessage] = []
    try:
        last = (await js.stream_info(stream)).state.last_seq
        sub = await js.pull_subscribe(filters[0], stream=stream, config=config)
    except nats.errors.Error as exc:
        raise TransportError(f"cannot read stream {stream} on {', '.join(filters)}: {exc!r}") from exc
    try:
        pending = (await sub.consumer_info()).num_pending or 0
        while pending:
            try:
                msgs = await sub.fetch(batch, timeout=timeout)
            except (TimeoutError, nats.errors.TimeoutError) as exc:
                raise TransportError(f"reading {stream}: nothing came within {timeout}s") from exc
            for msg in msgs:
                meta = msg.metadata
                if meta.sequence.stream > last:
                    return out
                out.append(
                    StoredMessage(
                        stream=meta.stream,
                        sequence=meta.sequence.stream,
                        subject=msg.subject,
                        data=msg.data,
                        headers=msg.headers or _NO_HEADERS,
                    )
                )
                pending = meta.num_pending
    except nats.errors.Error as exc:
        raise TransportError(f"cannot read stream {stream}: {exc!r}") from exc
    finally:
        info = None
        with contextlib.suppress(nats.errors.Error):
            info = await sub.consumer_info()
            await sub.unsubscribe()
        if info is not None:
            with contextlib.suppress(nats.errors.Error):
                await js.delete_consumer(stream, info.name)
    return out
