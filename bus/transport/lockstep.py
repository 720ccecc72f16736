"""Lockstep over NATS: components in separate processes, delivered to exactly as in one process.

A backtest over processes must write the same log as the in-process run. The in-process transport
(:mod:`.inprocess`) fixes one order: messages are delivered first in, first out, each to its
subscribers in subscription order, and what a handler publishes is queued behind the message being
delivered. Lockstep keeps that order across processes:

* the **conductor** (in the process that runs the backtest) is an in-process transport whose
  subscribers may live in other processes. Each component process registers its subscriptions with it,
  in the order the in-process run would make them (the processes are started one after the other). To
  deliver a message to a remote subscriber, the conductor sends it to that process with the conductor's
  clock time and the ids of that process's matching subscriptions (consecutive ones go in one frame), and
  waits for the answer: the messages the handlers published, which it queues as the in-process
  transport would. Nothing moves until every subscriber has answered: the barrier is on the bus, per
  message, and there is no sleep anywhere;
* a **client** (:class:`LockstepClient`, the transport of a component process) runs the handlers of a
  frame in order with its simulation clock set to the frame's time, collects what they publish, and
  answers the frame with it.

The processes start together (their imports overlap); each waits for its turn (``go``) before it
subscribes, and says when it is done (``ready``). Frames travel on plain NATS subjects
``lockstep.<run>.{go,subscribe,ready,publish}`` and ``lockstep.<run>.deliver.<component>``
(request/reply), encoded with msgpack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

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


class Published(msgspec.Struct, array_like=True, frozen=True):
    subject: str
    data: bytes
    headers: dict[str, str] = msgspec.field(default_factory=dict)


class Subscribe(msgspec.Struct, frozen=True):
    component: str
    sub: int
    pattern: str
    queue: str = ""


class Deliver(msgspec.Struct, frozen=True):
    now: int
    subject: str
    data: bytes
    headers: dict[str, str]
    subs: list[int]


class Answer(msgspec.Struct, frozen=True):
    published: list[Published] = msgspec.field(default_factory=list)
    error: str = ""


_encode = msgspec.msgpack.Encoder().encode
_decode_subscribe = msgspec.msgpack.Decoder(Subscribe).decode
_decode_deliver = msgspec.msgpack.Decoder(Deliver).decode
_decode_answer = msgspec.msgpack.Decoder(Answer).decode
_decode_published = msgspec.msgpack.Decoder(Published).decode


def subject(run: str, *tokens: str) -> str:
    return ".".join((PREFIX, token(run), *(token(t) for t in tokens)))


# --- conductor --------------------------------------------------------------------------------------


class _Remote:
    """The subscriptions of one component process that match a subject, in order: one frame."""

    __slots__ = ("component", "conductor", "subs")

    def __init__(self, conductor: LockstepConductor, component: str, subs: list[int]) -> None:
        self.conductor = conductor
        self.component = component
        self.subs = subs

    async def __call__(self, envelope: Envelope) -> None:
        await _Fanout((self,))(envelope)


class _Fanout:
    """Consecutive remote subscribers of one subject: one frame per process, sent to every process at
    once. What they publish is queued in subscription order, as if they had run one after the other: a
    handler's publishes are only queued, never delivered while the message is, so no subscriber of a
    message can see what another one published for it."""

    __slots__ = ("remotes",)

    def __init__(self, remotes: tuple[_Remote, ...]) -> None:
        self.remotes = remotes

    async def __call__(self, envelope: Envelope) -> None:
        remotes = self.remotes
        conductor = remotes[0].conductor
        if len(remotes) == 1:
            answers = [await conductor.ask(remotes[0].component, remotes[0].subs, envelope)]
        else:
            answers = await asyncio.gather(*(conductor.ask(r.component, r.subs, envelope) for r in remotes))
        post = conductor.transport.post
        for answer in answers:
            for published in answer.published:
                pending = post(published.subject, published.data, published.headers or None)
                if pending is not None:  # only outside a delivery, which a frame never is
                    await pending


class _ConductorTransport(InProcessTransport):
    """The in-process transport, with the consecutive remote subscribers of a subject merged: the
    subscriptions of one process into one frame, the processes into one :class:`_Fanout`."""

    def _route(self, subject: str) -> tuple[Handler, ...]:
        route = super()._route(subject)
        merged: list[Handler | list[_Remote]] = []
        for handler in route:
            last = merged[-1] if merged else None
            if not isinstance(handler, _Remote):
                merged.append(handler)
            elif not isinstance(last, list):
                merged.append([handler])
            elif last[-1].component == handler.component:
                last[-1] = _Remote(handler.conductor, handler.component, [*last[-1].subs, *handler.subs])
            else:
                last.append(handler)
        result = tuple(_Fanout(tuple(h)) if isinstance(h, list) else h for h in merged)
        self._routes[subject] = result
        return result


class LockstepConductor:
    """Delivers a run's messages to local and remote subscribers in the in-process order (module doc).

    ``transport`` is what the conductor's own components (the feed, the recorder, observers) use; remote
    subscriptions join it as component processes register.
    """

    def __init__(self, nc: Client, run: str, clock: SimClock, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.nc = nc
        self.run = run
        self.clock = clock
        self.timeout = timeout
        self.transport = _ConductorTransport()
        self.ready: asyncio.Queue[str] = asyncio.Queue()
        self.frames = 0
        self._subs: list[Any] = []

    async def start(self) -> None:
        self._subs = [
            await self.nc.subscribe(subject(self.run, "subscribe"), cb=self._on_subscribe),
            await self.nc.subscribe(subject(self.run, "publish"), cb=self._on_publish),
            await self.nc.subscribe(subject(self.run, "ready"), cb=self._on_ready),
        ]

    async def _on_subscribe(self, msg: Msg) -> None:
        request = _decode_subscribe(msg.data)
        try:
            validate_pattern(request.pattern)
            remote = _Remote(self, request.component, [request.sub])
            await self.transport.subscribe(request.pattern, remote, queue=request.queue)
            await msg.respond(_encode(Answer()))
        except SubjectError as exc:
            await msg.respond(_encode(Answer(error=str(exc))))

    async def _on_publish(self, msg: Msg) -> None:
        """A publish a component made outside a delivery: queued like any other."""
        published = _decode_published(msg.data)
        await self.transport.publish(published.subject, published.data, headers=published.headers or None)
        await msg.respond(b"")

    async def _on_ready(self, msg: Msg) -> None:
        await self.ready.put(msg.data.decode())
        await msg.respond(b"")

    async def go(self, component: str) -> bool:
        """Give ``component`` its turn to subscribe; False while its process is not listening yet."""
        try:
            await self.nc.request(subject(self.run, "go", component), b"", timeout=self.timeout)
        except nats.errors.NoRespondersError:
            return False
        return True

    async def wait_ready(self, component: str, timeout: float) -> None:
        """Wait until ``component`` has registered every subscription of its start."""
        name = await asyncio.wait_for(self.ready.get(), timeout)
        if name != component:
            raise TransportError(f"lockstep: expected {component} to start, {name} said it is ready")

    async def ask(self, component: str, subs: list[int], envelope: Envelope) -> Answer:
        """Deliver ``envelope`` to the subscriptions ``subs`` of ``component``; its answer."""
        frame = Deliver(
            now=self.clock.now_ns(),
            subject=envelope.subject,
            data=envelope.data,
            headers=dict(envelope.headers),
            subs=subs,
        )
        try:
            reply = await self.nc.request(
                subject(self.run, "deliver", component), _encode(frame), timeout=self.timeout
            )
        except (TimeoutError, nats.errors.Error) as exc:
            raise TransportError(
                f"lockstep: {component} did not answer {envelope.subject} within {self.timeout:g}s ({exc!r})"
            ) from exc
        self.frames += 1
        answer = _decode_answer(reply.data)
        if answer.error:
            raise TransportError(f"lockstep: {component} failed on {envelope.subject}: {answer.error}")
        return answer

    async def stop(self) -> None:
        """Tell every component process the run is over."""
        await self.nc.publish(subject(self.run, "stop"), b"")
        await self.nc.flush()
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
        self._outbox: list[Published] | None = None
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
        if frame.now > self.clock.now_ns():
            self.clock.advance_to(frame.now)
        envelope = Envelope(frame.subject, frame.data, frame.headers)
        outbox: list[Published] = []
        self._outbox = outbox
        error = ""
        try:
            for sub in frame.subs:
                handler = self._handlers.get(sub)
                if handler is not None:
                    await handler(envelope)
        except Exception as exc:  # the bus catches handler errors; this is the transport's own failure
            log.exception("lockstep: %s failed on %s", self.component, frame.subject)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self._outbox = None
        await msg.respond(_encode(Answer(published=outbox, error=error)))

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
        sub = len(self._handlers) + 1
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
