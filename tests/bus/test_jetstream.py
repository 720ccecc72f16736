"""Durable families over JetStream: de-duplication and the at-least-once consumer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from basis.bus.embedded import EmbeddedNats
from basis.bus.transport.base import MSG_ID_HEADER
from basis.bus.transport.nats import NatsTransport, is_durable


@pytest.fixture
async def nats_transport(nats_server: EmbeddedNats) -> AsyncIterator[NatsTransport]:
    t = await NatsTransport.connect(nats_server.url, name="jetstream-test")
    await t.ensure_streams()
    yield t
    await t.close()


def test_durable_families() -> None:
    assert all(
        is_durable(s) for s in ("md.bar.binance.BTCUSDT", "cmd.fund.deposit", "evt.a.b", "dlq.evt.a.b")
    )
    assert not any(is_durable(s) for s in ("sys.clock", "sys.control.x", "mdx.a", "_INBOX.x"))


async def test_ensure_streams_is_idempotent(nats_transport: NatsTransport) -> None:
    await nats_transport.ensure_streams()
    await nats_transport.ensure_streams(duplicate_window=60.0)  # a changed setting updates the stream


async def test_same_msg_id_is_stored_once(nats_transport: NatsTransport, prefix: str) -> None:
    subject = f"evt.{prefix}.filled"
    await nats_transport.publish(subject, b'{"n":1}', msg_id=f"{prefix}-1")
    await nats_transport.publish(subject, b'{"n":1}', msg_id=f"{prefix}-1")  # a retry
    await nats_transport.publish(subject, b'{"n":2}', msg_id=f"{prefix}-2")
    await nats_transport.flush()
    assert nats_transport.duplicates == 1
    assert await nats_transport.stream_message_count("BASIS_EVT", subject) == 2


async def test_dedup_with_acks_awaited_one_by_one(nats_server: EmbeddedNats, prefix: str) -> None:
    t = await NatsTransport.connect(nats_server.url, sync_acks=True)
    try:
        subject = f"cmd.{prefix}.spot_trade"
        for _ in range(3):
            await t.publish(subject, b"{}", msg_id=f"{prefix}-once")
        assert t.duplicates == 2
        assert await t.stream_message_count("BASIS_CMD", subject) == 1
    finally:
        await t.close()


async def test_durable_consumer_redelivers_what_was_not_acked(
    nats_transport: NatsTransport, prefix: str
) -> None:
    subject = f"evt.{prefix}.settled"
    for i in range(5):
        await nats_transport.publish(
            subject, str(i).encode(), msg_id=f"{prefix}-{i}", headers={"Basis-Run": "r"}
        )
    await nats_transport.flush()

    consumer = await nats_transport.durable_consumer(
        "BASIS_EVT", f"rec-{prefix}", filter_subject=subject, ack_wait=0.5
    )
    batch = await consumer.fetch(3, timeout=2.0)
    assert [m.data for m in batch] == [b"0", b"1", b"2"]
    assert [m.sequence for m in batch] == sorted(m.sequence for m in batch)
    assert all(m.subject == subject and m.stream == "BASIS_EVT" and m.delivered == 1 for m in batch)
    assert batch[0].headers["Basis-Run"] == "r" and batch[0].headers[MSG_ID_HEADER] == f"{prefix}-0"
    await consumer.ack(batch[:2])
    await consumer.close()  # dies before committing batch[2]

    consumer = await nats_transport.durable_consumer(
        "BASIS_EVT", f"rec-{prefix}", filter_subject=subject, ack_wait=0.5
    )
    seen: dict[bytes, int] = {}
    deadline = asyncio.get_running_loop().time() + 5.0
    while len(seen) < 3 and asyncio.get_running_loop().time() < deadline:
        batch = await consumer.fetch(10, timeout=1.0)
        seen.update((m.data, m.delivered) for m in batch)
        await consumer.ack(batch)
    assert seen == {b"2": 2, b"3": 1, b"4": 1}
    assert await consumer.fetch(10, timeout=0.3) == []
    assert await consumer.pending() == 0
    await consumer.close()


async def test_durable_consumer_can_start_at_a_sequence(nats_transport: NatsTransport, prefix: str) -> None:
    subject = f"md.bar.{prefix}.BTCUSDT"
    for i in range(4):
        await nats_transport.publish(subject, str(i).encode(), msg_id=f"{prefix}-{i}")
    await nats_transport.flush()
    durable = f"from-{prefix}"
    consumer = await nats_transport.durable_consumer("BASIS_MD", durable, filter_subject=subject)
    everything = await consumer.fetch(10, timeout=2.0)
    assert [m.data for m in everything] == [b"0", b"1", b"2", b"3"]
    await consumer.close()

    third = everything[2].sequence
    consumer = await nats_transport.durable_consumer(
        "BASIS_MD", durable, filter_subject=subject, start_sequence=third, recreate=True
    )
    assert [m.data for m in await consumer.fetch(10, timeout=2.0)] == [b"2", b"3"]
    await consumer.close()
