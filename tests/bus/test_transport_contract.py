"""The transport contract, checked against both the in-process transport and a real nats-server."""

from __future__ import annotations

import pytest
from busutil import Collector, settle

from basis.bus import subjects
from basis.bus.bus import ORIGINAL_SUBJECT_HEADER, Bus
from basis.bus.codec import encode
from basis.bus.errors import RequestTimeout, SubjectError
from basis.bus.messages import Control, Heartbeat
from basis.bus.transport.base import ERROR_HEADER, Envelope, Transport


async def test_star_matches_exactly_one_token(transport: Transport, prefix: str) -> None:
    got = Collector()
    await transport.subscribe(f"{prefix}.*.x", got)
    for subject in (f"{prefix}.a.x", f"{prefix}.a.b.x", f"{prefix}.x", f"{prefix}.a.y", f"{prefix}.b.x"):
        await transport.publish(subject, b"1")
    await got.wait_for(2)
    await settle(transport)
    assert got.subjects == [f"{prefix}.a.x", f"{prefix}.b.x"]


async def test_gt_matches_one_or_more_trailing_tokens(transport: Transport, prefix: str) -> None:
    got = Collector()
    await transport.subscribe(f"{prefix}.>", got)
    for subject in (prefix, f"{prefix}.a", f"{prefix}.a.b.c", f"other.{prefix}.a"):
        await transport.publish(subject, b"1")
    await got.wait_for(2)
    await settle(transport)
    assert got.subjects == [f"{prefix}.a", f"{prefix}.a.b.c"]


async def test_every_matching_subscription_gets_the_message(transport: Transport, prefix: str) -> None:
    exact, star, rest = Collector(), Collector(), Collector()
    await transport.subscribe(f"{prefix}.a.b", exact)
    await transport.subscribe(f"{prefix}.*.b", star)
    await transport.subscribe(f"{prefix}.>", rest)
    await transport.publish(f"{prefix}.a.b", b"payload")
    for c in (exact, star, rest):
        await c.wait_for(1)
    assert exact.payloads == star.payloads == rest.payloads == [b"payload"]


async def test_headers_arrive(transport: Transport, prefix: str) -> None:
    got = Collector()
    await transport.subscribe(f"{prefix}.h", got)
    await transport.publish(f"{prefix}.h", b"x", headers={"Basis-Run": "r1", "X-Extra": "two words"})
    [envelope] = await got.wait_for(1)
    assert envelope.headers["Basis-Run"] == "r1"
    assert envelope.headers["X-Extra"] == "two words"


async def test_order_of_one_publisher_is_kept(transport: Transport, prefix: str) -> None:
    got = Collector()
    await transport.subscribe(f"{prefix}.seq.*", got)
    sent = [str(i).encode() for i in range(300)]
    for i, data in enumerate(sent):
        await transport.publish(f"{prefix}.seq.{i % 3}", data)
    await got.wait_for(len(sent))
    assert got.payloads == sent


async def test_queue_group_delivers_each_message_to_one_member(transport: Transport, prefix: str) -> None:
    members = [Collector(), Collector(), Collector()]
    everyone = Collector()
    for member in members:
        await transport.subscribe(f"{prefix}.work.*", member, queue="workers")
    await transport.subscribe(f"{prefix}.work.*", everyone)
    sent = [str(i).encode() for i in range(60)]
    for data in sent:
        await transport.publish(f"{prefix}.work.job", data)
    await everyone.wait_for(len(sent))
    await settle(transport)
    received = sorted((d for m in members for d in m.payloads), key=int)
    assert received == sent
    assert everyone.payloads == sent


async def test_request_reply(transport: Transport, prefix: str) -> None:
    async def responder(envelope: Envelope) -> None:
        await transport.reply(envelope, envelope.data.upper())

    await transport.subscribe(f"{prefix}.svc.echo", responder)
    answer = await transport.request(f"{prefix}.svc.echo", b"hello", timeout=2.0)
    assert answer.data == b"HELLO"
    assert (await transport.request(f"{prefix}.svc.echo", b"again")).data == b"AGAIN"


async def test_request_to_a_queue_group_gets_one_answer(transport: Transport, prefix: str) -> None:
    async def make(name: bytes) -> None:
        async def responder(envelope: Envelope) -> None:
            await transport.reply(envelope, name)

        await transport.subscribe(f"{prefix}.svc.who", responder, queue="svc")

    for name in (b"a", b"b"):
        await make(name)
    answers = {(await transport.request(f"{prefix}.svc.who", b"")).data for _ in range(10)}
    assert answers <= {b"a", b"b"}


async def test_request_without_responders_fails_fast(transport: Transport, prefix: str) -> None:
    with pytest.raises(RequestTimeout):
        await transport.request(f"{prefix}.nobody", b"?", timeout=2.0)


async def test_request_without_reply_times_out(transport: Transport, prefix: str) -> None:
    async def silent(envelope: Envelope) -> None:
        return None

    await transport.subscribe(f"{prefix}.svc.silent", silent)
    with pytest.raises(RequestTimeout):
        await transport.request(f"{prefix}.svc.silent", b"?", timeout=0.2)


async def test_request_on_a_durable_subject_is_refused(transport: Transport) -> None:
    with pytest.raises(SubjectError):
        await transport.request("cmd.binance.spot_trade", b"{}")


async def test_unsubscribe_stops_delivery(transport: Transport, prefix: str) -> None:
    got, still = Collector(), Collector()
    sub = await transport.subscribe(f"{prefix}.u", got)
    await transport.subscribe(f"{prefix}.u", still)
    await transport.publish(f"{prefix}.u", b"1")
    await got.wait_for(1)
    await sub.unsubscribe()
    await transport.publish(f"{prefix}.u", b"2")
    await still.wait_for(2)
    await settle(transport)
    assert got.payloads == [b"1"]


async def test_invalid_patterns_are_refused(transport: Transport) -> None:
    async def ignore(envelope: Envelope) -> None:
        return None

    for pattern in ("a..b", "a.>.b", "a.b*", ""):
        with pytest.raises(SubjectError):
            await transport.subscribe(pattern, ignore)


async def test_durable_subjects_are_delivered_live(transport: Transport, prefix: str) -> None:
    got = Collector()
    await transport.subscribe(f"evt.{prefix}.*", got)
    await transport.publish(f"evt.{prefix}.filled", b"{}", msg_id=f"{prefix}-1", headers={"Basis-Run": "r"})
    await transport.flush()
    [envelope] = await got.wait_for(1)
    assert envelope.data == b"{}"
    assert envelope.headers["Basis-Run"] == "r"
    assert envelope.reply == ""


async def test_typed_bus_round_trip_and_dead_letters(transport: Transport, prefix: str) -> None:
    """The typed Bus works unchanged over both transports, including dead-lettering."""
    name = f"c{prefix}"
    bus = Bus(transport, component=name, run_id="run-1")
    got: list[Control] = []

    async def on_control(message: Control) -> None:
        got.append(message)

    await bus.subscribe(subjects.control(name), on_control, types=(Control,))
    dead = Collector()
    await transport.subscribe(subjects.dlq(subjects.control(name)), dead)

    ping = Control(id=f"{prefix}-ping", ts=1, component=name, command="ping")
    await bus.publish(ping)
    other = Heartbeat(id=f"{prefix}-hb", ts=2, component=name, processed=0, dead_lettered=0)
    await transport.publish(subjects.control(name), encode(other))  # valid, but not a Control: skipped
    await transport.publish(subjects.control(name), b"{not json")
    await dead.wait_for(1)
    await settle(transport)

    assert got == [ping]
    assert bus.processed == 1 and bus.dead_lettered == 1
    [letter] = dead.items
    assert letter.data == b"{not json"
    assert letter.headers[ERROR_HEADER].startswith("decode error")
    assert letter.headers[ORIGINAL_SUBJECT_HEADER] == subjects.control(name)
