"""The recorder: every message of the durable streams, appended to the event store, exactly once, in order.

One durable JetStream pull consumer per stream (``md``, ``cmd``, ``evt``, ``dlq``: ``subjects.STREAMS``).
For each fetched batch the recorder

1. drops messages at or below the stream's recorded position (deliveries it already committed);
2. checks that every payload decodes as a bus message; one that does not is dead-lettered (republished
   raw on ``dlq.<subject>`` with ``Basis-Error``, ``Nats-Msg-Id = dlq:<stream>:<sequence>`` so a retry is
   stored once) and is not stored as an event. Messages on ``dlq.*`` are stored raw, under their dlq
   subject: they are the evidence of what could not be processed;
3. appends the batch to the store in one transaction together with the tracking position
   ``(stream name, last stream sequence of the batch)``;
4. acks the batch, only after that commit.

The run of a message is its ``Basis-Run`` header (``default_run_id`` when empty or missing).

What is stored follows the log rule (:class:`~basis.bus.store.LogRule`, one per run, deciding once per
delivery in stream order): every fact, and the monitors' views only as checkpoints (every
``checkpoint_interval_ns``, default daily at 00:00 UTC, and at a risk-level change). On shutdown the
last view of each kind of each run not kept yet is appended (the end of what this recorder saw). A
view that is not kept is still acked: views are rebuilt from the facts (``basis replay``).

Restarts: the store's tracking position is the truth. On start the recorder (re)creates its durable
consumer on each stream to deliver from ``recorded position + 1``, so nothing is skipped (messages
fetched but unacked by a killed recorder would otherwise come back only after ``ack_wait``, behind newer
ones) and nothing is stored twice (a commit whose ack was lost is at or below the position). Order in
the store follows stream order within each stream; across streams it is commit order. One recorder per
store and streams: two would both be correct, but could interleave their streams' batches differently.

Run it as its own process: ``python -m basis.components.recorder --nats URL --store URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from basis.bus import subjects
from basis.bus.bus import ORIGINAL_SUBJECT_HEADER, RUN_HEADER, Bus
from basis.bus.clock import Clock, LiveClock
from basis.bus.component import Component
from basis.bus.errors import BusError, StoreError
from basis.bus.ids import IdFactory, RandomIds
from basis.bus.logs import LEVELS, log_to_stderr
from basis.bus.messages import AnyMessage
from basis.bus.store import DAY_NS, AlreadyRecorded, EventStore, LogRule, Tracking, open_store, parse_interval
from basis.bus.store.urls import DEFAULT_STORE_URL
from basis.bus.transport.base import ERROR_HEADER
from basis.bus.transport.jetstream import DurableConsumer, StoredMessage
from basis.bus.transport.nats import NatsTransport

log = logging.getLogger("basis.recorder")

DEFAULT_RUN_ID = "default"
DEFAULT_DURABLE = "basis-recorder"


class RecorderError(BusError):
    """The recorder cannot go on (the store keeps failing, or a stream went back in time)."""


class Recorder(Component):
    """Appends the durable streams to an event store; acks only what is committed."""

    name = "recorder"

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        ids: IdFactory,
        *,
        transport: NatsTransport,
        store: EventStore,
        default_run_id: str = DEFAULT_RUN_ID,
        durable: str = DEFAULT_DURABLE,
        streams: Sequence[subjects.Stream] = subjects.STREAMS,
        batch_size: int = 500,
        fetch_timeout: float = 0.5,
        ack_wait: float = 60.0,
        store_attempts: int = 5,
        checkpoint_interval_ns: int = DAY_NS,
    ) -> None:
        super().__init__(bus, clock, ids)
        self.checkpoint_interval_ns = checkpoint_interval_ns
        self.rules: dict[str, LogRule] = {}
        """The log rule of each run seen."""
        self.dropped = 0
        """Views not kept (between checkpoints)."""
        self.transport = transport
        self.store = store
        self.default_run_id = default_run_id
        self.durable = durable
        self.streams = tuple(streams)
        self.batch_size = batch_size
        self.fetch_timeout = fetch_timeout
        self.ack_wait = ack_wait
        self.store_attempts = store_attempts
        self.stored = 0
        """Messages appended to the store by this process."""
        self.skipped = 0
        """Deliveries dropped because the store already held them."""
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(AnyMessage)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = asyncio.Event()

    # --- lifecycle -----------------------------------------------------------------------------

    async def on_start(self) -> None:
        consumers = [await self._open(stream.name) for stream in self.streams]
        self._tasks = [
            asyncio.create_task(self._consume(consumer), name=f"recorder-{consumer.stream}")
            for consumer in consumers
        ]

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        return list(self._tasks)

    async def shutdown(self) -> None:
        """Finish the batches in hand (commit and ack them), stop consuming, then append the last view of
        each kind of each run that no checkpoint kept."""
        self._closing.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        entries = [
            (run_id, subject, data) for run_id, rule in self.rules.items() for subject, data in rule.finish()
        ]
        if entries:
            try:
                await asyncio.to_thread(self.store.append_entries, entries)
            except StoreError as exc:
                log.error("the last views of %d run(s) were not stored: %s", len(self.rules), exc)
            else:
                self.stored += len(entries)

    def _rule(self, run_id: str) -> LogRule:
        rule = self.rules.get(run_id)
        if rule is None:
            rule = self.rules[run_id] = LogRule(self.checkpoint_interval_ns)
        return rule

    async def _open(self, stream: str) -> DurableConsumer:
        """(Re)create the durable consumer on ``stream`` to deliver from the recorded position + 1."""
        recorded = await asyncio.to_thread(self.store.upstream_position, stream)
        js = self.transport.js
        try:
            info = await js.stream_info(stream)
        except nats.errors.Error as exc:
            raise RecorderError(f"cannot read stream {stream}: {exc!r}") from exc
        if info.state.last_seq < recorded:
            raise RecorderError(
                f"stream {stream} ends at sequence {info.state.last_seq} but {self.store.url} recorded it up to "
                f"{recorded}: the stream was recreated; record it into a new store"
            )
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_consumer(stream, self.durable)
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if recorded else DeliverPolicy.ALL,
            opt_start_seq=recorded + 1 if recorded else None,
            ack_wait=self.ack_wait,
            max_ack_pending=max(20_000, 4 * self.batch_size),
        )
        try:
            sub = await js.pull_subscribe("", durable=self.durable, stream=stream, config=config)
        except nats.errors.Error as exc:
            raise RecorderError(f"cannot open consumer {self.durable} on {stream}: {exc!r}") from exc
        log.info("recording %s from sequence %d into %s", stream, recorded + 1, self.store.url)
        return DurableConsumer(self.transport.nc, sub, stream, self.durable)

    async def _consume(self, consumer: DurableConsumer) -> None:
        recorded = 0  # _record asks the store
        try:
            while not (self._closing.is_set() or self.stopped.is_set()):
                batch = await consumer.fetch(self.batch_size, timeout=self.fetch_timeout)
                if not batch:
                    continue
                recorded = await self._record(consumer.stream, batch, recorded)
                await consumer.ack(batch)
        finally:
            await consumer.close()

    # --- one batch -----------------------------------------------------------------------------

    async def _record(self, stream: str, batch: list[StoredMessage], recorded: int) -> int:
        """Dead-letter, append and track one batch; returns the stream's new recorded position."""
        # the log rule decides once per delivery, in stream order (not again when the append is retried)
        dropped = {
            m.sequence
            for m in batch
            if m.sequence > recorded
            and not self._rule(m.headers.get(RUN_HEADER) or self.default_run_id).keeps(m.subject, m.data)
        }
        attempt = 0
        while True:
            # the store is the truth (this process's idea of it is only a lower bound)
            recorded = max(recorded, await asyncio.to_thread(self.store.upstream_position, stream))
            fresh = [m for m in batch if m.sequence > recorded]
            if not fresh:
                self.skipped += len(batch)
                return recorded
            last: int = max(m.sequence for m in fresh)
            entries: list[tuple[str, str, bytes]] = []
            dead: list[tuple[StoredMessage, str, str]] = []
            for m in fresh:
                if m.sequence in dropped:
                    continue
                run_id = m.headers.get(RUN_HEADER) or self.default_run_id
                if not m.subject.startswith(subjects.DLQ + "."):
                    try:
                        self._decoder.decode(m.data)
                    except msgspec.DecodeError as exc:
                        dead.append((m, run_id, f"decode error: {exc}"))
                        continue
                entries.append((run_id, m.subject, m.data))
            if dead:
                await self._dead_letter(stream, dead)
            try:
                await asyncio.to_thread(self.store.append_entries, entries, tracking=Tracking(stream, last))
            except AlreadyRecorded as exc:
                log.warning("%s: %s; skipping what is recorded", stream, exc)
                recorded = exc.recorded
                continue
            except StoreError as exc:
                attempt += 1
                if attempt >= self.store_attempts or self._closing.is_set():
                    raise RecorderError(f"cannot record {stream} up to {last}: {exc}") from exc
                delay = min(5.0, 0.2 * 2**attempt)
                log.error("%s: append failed (%s); retrying in %.1fs", stream, exc, delay)
                await asyncio.sleep(delay)
                continue
            self.stored += len(entries)
            self.dropped += sum(1 for m in fresh if m.sequence in dropped)
            self.skipped += len(batch) - len(fresh)
            self.bus.processed += len(entries)
            return last

    async def _dead_letter(self, stream: str, dead: list[tuple[StoredMessage, str, str]]) -> None:
        for m, run_id, error in dead:
            log.warning("%s: dead-lettering %s #%d: %s", stream, m.subject, m.sequence, error)
            headers = {ERROR_HEADER: error[:1024], ORIGINAL_SUBJECT_HEADER: m.subject, RUN_HEADER: run_id}
            await self.transport.publish(
                subjects.dlq(m.subject), m.data, headers=headers, msg_id=f"dlq:{stream}:{m.sequence}"
            )
            self.bus.dead_lettered += 1
        await self.transport.flush()  # stored in BASIS_DLQ before the batch's position is committed


async def run_recorder(
    nats_url: str,
    store_url: str = DEFAULT_STORE_URL,
    *,
    default_run_id: str = DEFAULT_RUN_ID,
    durable: str = DEFAULT_DURABLE,
    batch_size: int = 500,
    checkpoint_interval_ns: int = DAY_NS,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
) -> int:
    """Record until stopped (``sys.control.recorder`` stop, SIGTERM/SIGINT, or ``stop``); exit status."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    transport: NatsTransport | None = None
    store: EventStore | None = None
    recorder: Recorder | None = None
    status = 0
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        transport = await NatsTransport.connect(nats_url, name="basis-recorder")
        await transport.ensure_streams()
        opened: EventStore = await asyncio.to_thread(open_store, store_url)
        store = opened
        bus = Bus(transport, component=Recorder.name, run_id=default_run_id)
        recorder = Recorder(
            bus,
            LiveClock(),
            RandomIds(),
            transport=transport,
            store=opened,
            default_run_id=default_run_id,
            durable=durable,
            batch_size=batch_size,
            checkpoint_interval_ns=checkpoint_interval_ns,
        )
        await recorder.start()
        log.info("recorder running: %s -> %s", nats_url, opened.url)
        waiters = [
            asyncio.ensure_future(recorder.stopped.wait()),
            asyncio.ensure_future(stop.wait()),
            *recorder.tasks,
        ]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters[:2]:
            waiter.cancel()
        for task in recorder.tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("recorder failed: %s", task.exception())
                status = 1
    except BusError as exc:
        log.error("%s", exc)
        status = 1
    finally:
        if recorder is not None:
            await recorder.shutdown()
            log.info(
                "recorder stopped: stored %d, views between checkpoints %d, dead-lettered %d, skipped %d "
                "already recorded",
                recorder.stored,
                recorder.dropped,
                recorder.bus.dead_lettered,
                recorder.skipped,
            )
        for sig in signals:
            loop.remove_signal_handler(sig)
        if transport is not None:
            await transport.close()
        if store is not None:
            store.close()
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m basis.components.recorder --nats URL --store URL [--run-id ID]``."""
    parser = argparse.ArgumentParser(
        prog="python -m basis.components.recorder",
        description="Record the durable streams into the event store.",
    )
    parser.add_argument("--nats", dest="nats_url", required=True, help="NATS URL, e.g. nats://127.0.0.1:4222")
    parser.add_argument("--store", dest="store_url", default=DEFAULT_STORE_URL, help="event store URL")
    parser.add_argument("--run-id", default=DEFAULT_RUN_ID, help="run of messages without a Basis-Run header")
    parser.add_argument("--durable", default=DEFAULT_DURABLE, help="name of the JetStream consumers")
    parser.add_argument("--batch", type=int, default=500, help="messages fetched and committed together")
    parser.add_argument(
        "--checkpoint-interval",
        default="1d",
        help="how often the monitors' views are kept (1d: daily at 00:00 UTC; 6h, 30m; 0: every view)",
    )
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LEVELS)
    args = parser.parse_args(argv)
    try:
        interval_ns = parse_interval(args.checkpoint_interval)
    except ValueError as exc:
        parser.error(str(exc))
    log_to_stderr(args.log_level)
    return asyncio.run(
        run_recorder(
            args.nats_url,
            args.store_url,
            default_run_id=args.run_id,
            durable=args.durable,
            batch_size=args.batch,
            checkpoint_interval_ns=interval_ns,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
