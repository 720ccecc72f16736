"""The in-process transport's documented, deterministic delivery order."""

from __future__ import annotations

import pytest
from busutil import Collector

from basis.bus.bus import Bus
from basis.bus.errors import SubjectError
from basis.bus.messages import Control
from basis.bus.transport.base import Envelope
from basis.bus.transport.inprocess import InProcessTransport


async def cascade_trace() -> list[str]:
    """A: a -> b.1, b.2; B (b.*) -> c.<n>; C (c.*) and a catch-all (>) record what they see."""
    t = InProcessTransport()
    trace: list[str] = []

    async def a(e: Envelope) -> None:
        trace.append(f"A:{e.subject}")
        await t.publish("b.1", b"")
        trace.append("A:published b.1")
        await t.publish("b.2", b"")
        trace.append("A:done")

    async def b(e: Envelope) -> None:
        trace.append(f"B:{e.subject}")
        await t.publish(f"c.{e.subject[-1]}", b"")

    async def c(e: Envelope) -> None:
        trace.append(f"C:{e.subject}")

    async def everything(e: Envelope) -> None:
        trace.append(f"*:{e.subject}")

    await t.subscribe("a", a)
    await t.subscribe(">", everything)
    await t.subscribe("b.*", b)
    await t.subscribe("c.*", c)
    await t.publish("a", b"")
    trace.append("publish returned")
    return trace


async def test_cascade_is_fifo_and_complete_when_publish_returns() -> None:
    assert await cascade_trace() == [
        # message "a": subscribers in subscription order; A's publishes are queued, not delivered inline
        "A:a",
        "A:published b.1",
        "A:done",
        "*:a",
        # then FIFO: b.1, b.2, then what they caused (c.1, c.2)
        "*:b.1",
        "B:b.1",
        "*:b.2",
        "B:b.2",
        "*:c.1",
        "C:c.1",
        "*:c.2",
        "C:c.2",
        "publish returned",
    ]


async def test_same_inputs_same_order() -> None:
    assert await cascade_trace() == await cascade_trace()


async def test_deep_cascade_does_not_recurse() -> None:
    t = InProcessTransport()
    seen: list[int] = []

    async def again(e: Envelope) -> None:
        n = int(e.data)
        seen.append(n)
        if n < 20_000:
            await t.publish("loop", str(n + 1).encode())

    await t.subscribe("loop", again)
    await t.publish("loop", b"1")
    assert seen == list(range(1, 20_001))


async def test_queue_group_is_round_robin_in_subscription_order() -> None:
    t = InProcessTransport()
    picks: list[str] = []
    order: list[str] = []

    def member(name: str):  # type: ignore[no-untyped-def]
        async def handler(e: Envelope) -> None:
            picks.append(name)
            order.append(name)

        return handler

    async def plain(e: Envelope) -> None:
        order.append("plain")

    await t.subscribe("job.*", member("w1"), queue="workers")
    await t.subscribe("job.*", plain)
    await t.subscribe("job.*", member("w2"), queue="workers")
    await t.subscribe("job.>", member("w3"), queue="workers")  # same group, other pattern
    for _ in range(7):
        await t.publish("job.x", b"")
    assert picks == ["w1", "w2", "w3", "w1", "w2", "w3", "w1"]
    # the group is delivered where its first member subscribed: before the plain subscriber
    assert order[:2] == ["w1", "plain"]


async def test_decoded_message_is_passed_through() -> None:
    t = InProcessTransport()
    got = Collector()
    await t.subscribe("sys.control.x", got)
    bus = Bus(t, component="x")
    ping = Control(id="1", ts=1, component="x", command="ping")
    await bus.publish(ping)
    assert got.items[0].message is ping


async def test_routes_follow_subscribe_and_unsubscribe() -> None:
    t = InProcessTransport()
    first, late = Collector(), Collector()
    sub = await t.subscribe("a.*", first)
    await t.publish("a.b", b"1")
    await t.subscribe("a.>", late)
    await t.publish("a.b", b"2")
    await sub.unsubscribe()
    await t.publish("a.b", b"3")
    assert first.payloads == [b"1", b"2"]
    assert late.payloads == [b"2", b"3"]


async def test_request_from_inside_a_handler() -> None:
    t = InProcessTransport()
    answers: list[bytes] = []

    async def service(e: Envelope) -> None:
        await t.reply(e, b"42")

    async def asker(e: Envelope) -> None:
        answers.append((await t.request("svc.answer", b"?")).data)

    await t.subscribe("svc.answer", service)
    await t.subscribe("ask", asker)
    await t.publish("ask", b"")
    assert answers == [b"42"]


async def test_failing_handler_does_not_stop_delivery(caplog: pytest.LogCaptureFixture) -> None:
    t = InProcessTransport()
    got = Collector()

    async def broken(e: Envelope) -> None:
        raise RuntimeError("boom")

    await t.subscribe("x", broken)
    await t.subscribe("x", got)
    await t.publish("x", b"1")
    assert got.payloads == [b"1"]
    assert t.handler_errors == 1
    assert "boom" in caplog.text


async def test_publishing_to_a_wildcard_is_refused() -> None:
    t = InProcessTransport()
    for subject in ("a.*", "a.>", "a..b"):
        with pytest.raises(SubjectError):
            await t.publish(subject, b"")
