"""Lockstep over NATS: components in separate processes, delivered to exactly as in one process.

A backtest over processes must write the same log as the in-process run. The in-process transport
(:mod:`.inprocess`) fixes one order: messages are delivered first in, first out, each to its
subscribers in subscription order, and what a handler publishes is queued behind the message being
delivered. Lockstep keeps that order across processes:

* the **conductor** (in the process that runs the backtest) is an in-process transport whose
  subscribers may live in other processes. Each component process registers its subscriptions with it,
  in the order the in-process run would make them. The conductor delivers the queue a generation at a
  time: every message queued now goes, in one frame per process, to the processes that subscribe to it
  (each with the ids of its matching subscriptions and the conductor's clock time); once every process
  has answered with what its handlers published for each message, the conductor queues those messages
  message by message, and within a message in subscription order, exactly where the in-process
  transport would have queued them, and calls its own subscribers (the recorder) in the same order.
  This is the in-process order because a handler's publishes are only queued, never delivered while the
  messages queued before them are: no handler can see what another published for a message of the same
  generation, and each process runs its share of a generation in queue order. Nothing moves until every
  process has answered: the barrier is on the bus, per generation, and there is no sleep anywhere;
* a **client** (:class:`LockstepClient`, the transport of a component process) runs the handlers of a
  frame message by message with its simulation clock set to the frame's time, collects what they
  publish, and answers the frame with it.

A component process that dies mid-run is brought back without changing the run: the conductor keeps
every frame a component answered (``history``, a file per component), and a restarted process, once it
has registered its subscriptions again (their places in the order are kept), is sent those frames again
before the frame it died on: it rebuilds its state from the same inputs, publishing what it published
the first time (the conductor drops that), and goes on from where it stopped (:meth:`LockstepConductor.
replay_history`). The process supervisor decides when a silent component is dead (``on_silent``).

The processes start together (their imports overlap); each waits for its turn (``go``) before it
subscribes, and says when it is done (``ready``). Frames travel on plain NATS subjects
``lockstep.<run>.{go,subscribe,ready,publish}`` and ``lockstep.<run>.deliver.<component>``
(request/reply), encoded with msgpack.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from ..clock import SimClock
from ..errors import RequestTimeout, SubjectError, TransportError
from ..subjects import token, validate_pattern
from .base import Envelope, Handler
from .inprocess import InProcessTransport

log = logging.getLogger("basis.bus.lockstep")

PREFIX = "lockstep"
DEFAULT_TIMEOUT = 60.0
"""Seconds a component process has to answer a frame before the run fails."""
RETRY_AFTER = 2.0
"""Seconds after which a frame with no answer is sent again (a server restarted, a node lost): the
component answers a frame it already ran from its memory of the answer, without running it twice."""


class Published(msgspec.Struct, array_like=True, frozen=True):
    subject: str
    data: bytes
    headers: dict[str, str] = msgspec.field(default_factory=dict)


class Subscribe(msgspec.Struct, frozen=True):
    component: str
    sub: int
    pattern: str
    queue: str = ""


class Item(msgspec.Struct, array_like=True, frozen=True):
    """One message of a frame and the subscriptions of the process it goes to, in order."""

    subject: str
    data: bytes
    headers: dict[str, str]
    subs: list[int]


class Deliver(msgspec.Struct, frozen=True):
    seq: int
    """Per component, +1 per frame: a frame sent again (its answer was lost) has the same number."""
    now: int
    items: list[Item]


class Answer(msgspec.Struct, frozen=True):
    published: list[list[Published]] = msgspec.field(default_factory=list)
    """What the handlers published, per item of the frame."""
    error: str = ""


_FRAME_LENGTH = struct.Struct(">I")
_encode = msgspec.msgpack.Encoder().encode
_decode_subscribe = msgspec.msgpack.Decoder(Subscribe).decode
_decode_deliver = msgspec.msgpack.Decoder(Deliver).decode
_decode_answer = msgspec.msgpack.Decoder(Answer).decode
_decode_published = msgspec.msgpack.Decoder(Published).decode


def subject(run: str, *tokens: str) -> str:
    return ".".join((PREFIX, token(run), *(token(t) for t in tokens)))


# --- conductor --------------------------------------------------------------------------------------


class _Remote:
    """One subscription of a component process: a handler of the conductor's transport that only the
    conductor's generation delivery calls (it batches them per process)."""

    __slots__ = ("component", "sub")

    def __init__(self, component: str, sub: int) -> None:
        self.component = component
        self.sub = sub

    async def __call__(self, envelope: Envelope) -> None:
        raise TransportError("lockstep: a remote subscription is delivered to by its conductor only")


class _ConductorTransport(InProcessTransport):
    """The in-process transport, delivering a generation of the queue at a time (module doc)."""

    def __init__(self, conductor: LockstepConductor) -> None:
        super().__init__()
        self.conductor = conductor

    async def _drain(self, until: asyncio.Future[Envelope] | None = None) -> None:
        queue = self._queue
        self._depth += 1
        try:
            while queue:
                generation = list(queue)
                queue.clear()
                routes = [self._route(envelope.subject) for envelope in generation]
                answers = await self.conductor.deliver_generation(generation, routes)
                for i, (envelope, route) in enumerate(zip(generation, routes, strict=True)):
                    for handler in route:
                        if isinstance(handler, _Remote):
                            for published in answers.pop((handler.component, i), ()):
                                queue.append(
                                    Envelope(published.subject, published.data, published.headers or {})
                                )
                            continue
                        try:
                            pending = handler(envelope)
                            if pending is not None:
                                await pending
                        except Exception:
                            self.handler_errors += 1
                            log.exception("handler failed on %s", envelope.subject)
                    self.delivered += 1
        finally:
            self._depth -= 1


class LockstepConductor:
    """Delivers a run's messages to local and remote subscribers in the in-process order (module doc).

    ``transport`` is what the conductor's own components (the feed, the recorder, observers) use; remote
    subscriptions join it as component processes register.
    """

    def __init__(
        self,
        nc: Client,
        run: str,
        clock: SimClock,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        history: Path | None = None,
        on_silent: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self.nc = nc
        self.run = run
        self.clock = clock
        self.timeout = timeout
        self.history = history
        """Where the frames each component answered are kept (None: nowhere, no restart possible)."""
        self.on_silent = on_silent
        """Called with a component that did not answer a frame in time; True when it was restarted."""
        self.transport = _ConductorTransport(self)
        self._ready: dict[str, asyncio.Event] = {}
        self.frames = 0
        self.resent = 0
        self._seq: dict[str, int] = {}
        self._registered: dict[tuple[str, int], str] = {}
        self._kept: dict[str, BinaryIO] = {}
        self._subs: list[Any] = []

    async def start(self) -> None:
        self._subs = [
            await self.nc.subscribe(subject(self.run, "subscribe"), cb=self._on_subscribe),
            await self.nc.subscribe(subject(self.run, "publish"), cb=self._on_publish),
            await self.nc.subscribe(subject(self.run, "ready"), cb=self._on_ready),
        ]

    async def _on_subscribe(self, msg: Msg) -> None:
        request = _decode_subscribe(msg.data)
        key = (request.component, request.sub)
        try:
            validate_pattern(request.pattern)
            if request.queue:  # the conductor picks one process per message only for plain subscribers
                raise SubjectError(f"{request.component}: queue groups are not part of a lockstep run")
            known = self._registered.get(key)
            if known is None:
                await self.transport.subscribe(request.pattern, _Remote(*key), queue=request.queue)
                self._registered[key] = request.pattern
            elif known != request.pattern:  # a restarted process must subscribe as the first one did
                raise SubjectError(f"{request.component} subscription {request.sub} was {known!r}")
            await msg.respond(_encode(Answer()))
        except SubjectError as exc:
            await msg.respond(_encode(Answer(error=str(exc))))

    async def _on_publish(self, msg: Msg) -> None:
        """A publish a component made outside a delivery: queued like any other."""
        published = _decode_published(msg.data)
        await self.transport.publish(published.subject, published.data, headers=published.headers or None)
        await msg.respond(b"")

    async def _on_ready(self, msg: Msg) -> None:
        self._ready.setdefault(msg.data.decode(), asyncio.Event()).set()
        await msg.respond(b"")

    async def go(self, component: str) -> bool:
        """Give ``component`` its turn to subscribe; False while its process is not listening yet."""
        try:
            await self.nc.request(subject(self.run, "go", component), b"", timeout=self.timeout)
        except nats.errors.NoRespondersError:
            return False
        return True

    async def wait_ready(self, component: str, timeout: float) -> None:
        """Wait until ``component`` has registered every subscription of its start (given its turn with
        :meth:`go`; one readiness per turn)."""
        ready = self._ready.setdefault(component, asyncio.Event())
        await asyncio.wait_for(ready.wait(), timeout)
        ready.clear()

    async def deliver_generation(
        self, generation: list[Envelope], routes: list[tuple[Handler, ...]]
    ) -> dict[tuple[str, int], list[Published]]:
        """Send every process its share of ``generation`` (one frame each, all at once); what each
        published, by ``(component, index of the message in the generation)``."""
        items: dict[str, list[tuple[int, Item]]] = {}
        for i, (envelope, route) in enumerate(zip(generation, routes, strict=True)):
            subs: dict[str, list[int]] = {}
            for handler in route:
                if isinstance(handler, _Remote):
                    subs.setdefault(handler.component, []).append(handler.sub)
            for component, ids in subs.items():
                item = Item(envelope.subject, envelope.data, dict(envelope.headers), ids)
                items.setdefault(component, []).append((i, item))
        if not items:
            return {}
        components = list(items)
        asks = [
            asyncio.ensure_future(self.ask(component, [item for _, item in items[component]]))
            for component in components
        ]
        try:
            answers = await asyncio.gather(*asks)
        except BaseException:
            for ask in asks:  # one process failed the run: the others stop waiting too
                ask.cancel()
            raise
        out: dict[tuple[str, int], list[Published]] = {}
        for component, answer in zip(components, answers, strict=True):
            for (i, _), published in zip(items[component], answer.published, strict=True):
                if published:
                    out[component, i] = published
        return out

    async def ask(self, component: str, items: list[Item]) -> Answer:
        """Deliver ``items`` to ``component`` in one frame; its answer (sent again until it comes)."""
        seq = self._seq[component] = self._seq.get(component, 0) + 1
        frame = _encode(Deliver(seq=seq, now=self.clock.now_ns(), items=items))
        to = subject(self.run, "deliver", component)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.timeout
        while True:
            try:
                reply = await self.nc.request(to, frame, timeout=min(RETRY_AFTER, self.timeout))
                break
            except (TimeoutError, nats.errors.Error) as exc:
                if loop.time() >= give_up:
                    raise TransportError(
                        f"lockstep: {component} did not answer {items[0].subject} within {self.timeout:g}s "
                        f"({exc!r})"
                    ) from exc
                self.resent += 1
                log.warning(
                    "lockstep: no answer from %s to frame %d (%r), sending it again", component, seq, exc
                )
                if self.on_silent is not None and await self.on_silent(component):
                    give_up = loop.time() + self.timeout
                elif isinstance(exc, nats.errors.Error) and not isinstance(exc, nats.errors.TimeoutError):
                    await asyncio.sleep(0.1)  # disconnected or no responder yet: let it reconnect
        self.frames += 1
        if self.history is not None:
            kept = self._kept.get(component)
            if kept is None:
                kept = self._kept[component] = (self.history / f"{component}.frames").open("ab")
            kept.write(_FRAME_LENGTH.pack(len(frame)) + frame)
        answer = _decode_answer(reply.data)
        if answer.error:
            raise TransportError(f"lockstep: {component} failed on {items[0].subject}: {answer.error}")
        return answer

    async def replay_history(self, component: str) -> int:
        """Send a restarted ``component`` every frame it answered before it died, in order (what it
        publishes again is dropped: it was queued the first time); the number of frames."""
        if self.history is None:
            raise TransportError(f"lockstep: no history kept, {component} cannot be brought back")
        kept = self._kept.get(component)
        if kept is not None:
            kept.flush()
        path = self.history / f"{component}.frames"
        data = path.read_bytes() if path.exists() else b""
        to = subject(self.run, "deliver", component)
        sent, at = 0, 0
        while at < len(data):
            (length,) = _FRAME_LENGTH.unpack_from(data, at)
            frame = data[at + _FRAME_LENGTH.size : at + _FRAME_LENGTH.size + length]
            at += _FRAME_LENGTH.size + length
            answer = _decode_answer((await self.nc.request(to, frame, timeout=self.timeout)).data)
            if answer.error:
                raise TransportError(f"lockstep: {component} failed while catching up: {answer.error}")
            sent += 1
        return sent

    async def stop(self) -> None:
        """Tell every component process the run is over."""
        await self.nc.publish(subject(self.run, "stop"), b"")
        await self.nc.flush()
        for kept in self._kept.values():
            kept.close()
        self._kept.clear()
        for sub in self._subs:
            await sub.unsubscribe()


# --- client -----------------------------------------------------------------------------------------


class LockstepClient:
    """The transport of one component process in a lockstep run (see the module doc)."""

    def __init__(self, nc: Client, run: str, component: str, clock: SimClock) -> None:
        self.nc = nc
        self.run = run
        self.component = component
        self.clock = clock
        self.stopped = asyncio.Event()
        self.turn = asyncio.Event()
        self._handlers: dict[int, Handler] = {}
        self._sub_ids = itertools.count(1)
        self._outbox: list[Published] | None = None
        self._answered: tuple[int, bytes] = (0, b"")
        """The last frame run and its answer, sent again when the same frame comes again."""
        self._subs: list[Any] = []

    async def start(self) -> None:
        self._subs = [
            await self.nc.subscribe(subject(self.run, "deliver", self.component), cb=self._on_deliver),
            await self.nc.subscribe(subject(self.run, "stop"), cb=self._on_stop),
            await self.nc.subscribe(subject(self.run, "go", self.component), cb=self._on_go),
        ]

    async def _on_go(self, msg: Msg) -> None:
        self.turn.set()
        await msg.respond(b"")

    async def ready(self) -> None:
        """Tell the conductor every subscription of the component's start is registered."""
        await self.nc.request(subject(self.run, "ready"), self.component.encode(), timeout=DEFAULT_TIMEOUT)

    async def _on_stop(self, msg: Msg) -> None:
        self.stopped.set()

    async def _on_deliver(self, msg: Msg) -> None:
        frame = _decode_deliver(msg.data)
        last, answered = self._answered
        if frame.seq <= last:  # sent again: its answer was lost on the way back
            if frame.seq == last:
                await msg.respond(answered)
            return
        if frame.now > self.clock.now_ns():
            self.clock.advance_to(frame.now)
        published: list[list[Published]] = []
        error = ""
        try:
            for item in frame.items:
                envelope = Envelope(item.subject, item.data, item.headers)
                outbox: list[Published] = []
                self._outbox = outbox
                published.append(outbox)
                for sub in item.subs:
                    handler = self._handlers.get(sub)
                    if handler is not None:
                        await handler(envelope)
        except Exception as exc:  # the bus catches handler errors; this is the transport's own failure
            log.exception("lockstep: %s failed on a frame", self.component)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self._outbox = None
        answer = _encode(Answer(published=published, error=error))
        self._answered = (frame.seq, answer)
        await msg.respond(answer)

    # --- Transport -----------------------------------------------------------------------------------

    async def publish(
        self,
        subject_: str,
        data: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        msg_id: str | None = None,
        message: object | None = None,
    ) -> None:
        published = Published(subject_, data, dict(headers) if headers else {})
        if self._outbox is not None:
            self._outbox.append(published)
            return
        await self.nc.request(subject(self.run, "publish"), _encode(published), timeout=DEFAULT_TIMEOUT)

    async def subscribe(
        self,
        pattern: str,
        handler: Handler | Callable[[Envelope], Awaitable[None] | None],
        *,
        queue: str = "",
    ) -> _ClientSubscription:
        validate_pattern(pattern)
        sub = next(self._sub_ids)
        self._handlers[sub] = handler  # type: ignore[assignment]
        request = Subscribe(component=self.component, sub=sub, pattern=pattern, queue=queue)
        reply = await self.nc.request(
            subject(self.run, "subscribe"), _encode(request), timeout=DEFAULT_TIMEOUT
        )
        answer = _decode_answer(reply.data)
        if answer.error:
            raise SubjectError(answer.error)
        return _ClientSubscription(self, pattern, sub)

    async def request(self, subject_: str, data: bytes, *, timeout: float = 2.0) -> Envelope:
        raise RequestTimeout(f"request/reply is not part of a lockstep run ({subject_!r})")

    async def reply(self, envelope: Envelope, data: bytes) -> None:
        raise TransportError("request/reply is not part of a lockstep run")

    async def flush(self) -> None:
        await self.nc.flush()

    async def close(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs = []


class _ClientSubscription:
    __slots__ = ("_client", "_sub", "subject")

    def __init__(self, client: LockstepClient, pattern: str, sub: int) -> None:
        self.subject = pattern
        self._client = client
        self._sub = sub

    async def unsubscribe(self) -> None:
        self._client._handlers.pop(self._sub, None)  # the conductor's frames for it are answered empty
