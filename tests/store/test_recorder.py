"""The recorder in this process, on a nats-server of its own: what is stored, dead-lettered, skipped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from storeutil import price, record, sample_run

from basis.bus.bus import ORIGINAL_SUBJECT_HEADER, RUN_HEADER, Bus
from basis.bus.clock import LiveClock
from basis.bus.embedded import EmbeddedNats
from basis.bus.ids import RandomIds, SequentialIds
from basis.bus.store import LogStore, Tracking, open_store, sqlite_url
from basis.bus.transport.base import ERROR_HEADER
from basis.bus.transport.jetstream import StoredMessage
from basis.bus.transport.nats import NatsTransport
from basis.components.recorder import Recorder, RecorderError, run_recorder


@pytest.fixture
async def transport(private_nats: EmbeddedNats) -> AsyncIterator[NatsTransport]:
    t = await NatsTransport.connect(private_nats.url, name="recorder-test")
    await t.ensure_streams()
    yield t
    await t.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    s = open_store(sqlite_url(tmp_path / "log.sqlite"))
    yield s
    s.close()


def make_recorder(transport: NatsTransport, store: LogStore, batch_size: int = 500) -> Recorder:
    bus = Bus(transport, component=Recorder.name, run_id="default")
    return Recorder(bus, LiveClock(), RandomIds(), transport=transport, store=store, batch_size=batch_size)


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def publish(
    transport: NatsTransport, run_id: str, records: list[tuple[str, bytes]], first: int = 0
) -> None:
    for i, (subject, data) in enumerate(records, first):
        await transport.publish(
            subject, data, headers={RUN_HEADER: run_id} if run_id else None, msg_id=f"{run_id}-{i}"
        )
    await transport.flush()


async def test_records_streams_dead_letters_and_resumes(transport: NatsTransport, store: LogStore) -> None:
    run = sample_run("r1", 30)  # oracle prices (md) and fills (evt)
    await publish(transport, "r1", run[:20])
    await transport.publish(
        "md.price.aave_v3.WETH", b"{not a message", headers={RUN_HEADER: "r1"}, msg_id="bad-1"
    )
    await transport.publish(
        "md.price.aave_v3.USDT", record(price(SequentialIds("x", "feed"), 0))[1], msg_id="no-run"
    )
    await transport.flush()

    recorder = make_recorder(transport, store, batch_size=7)
    await recorder.start()
    # 20 good + 1 without run + the dead letter of the bad payload (recorded from BASIS_DLQ)
    await eventually(lambda: store.last_position() == 22)
    await recorder.shutdown()

    r1 = list(store.read(run_id="r1"))
    md = [(r.subject, r.data) for r in r1 if r.subject.startswith("md.")]
    evt = [(r.subject, r.data) for r in r1 if r.subject.startswith("evt.")]
    assert md == [x for x in run[:20] if x[0].startswith("md.")]  # stream order within each stream
    assert evt == [x for x in run[:20] if x[0].startswith("evt.")]
    assert [(r.subject, r.data) for r in r1 if r.subject.startswith("dlq.")] == [
        ("dlq.md.price.aave_v3.WETH", b"{not a message")
    ]
    assert [r.seq for r in r1] == list(range(1, 22))
    assert [r.subject for r in store.read(run_id="default")] == ["md.price.aave_v3.USDT"]
    assert store.upstream_position("BASIS_MD") == 16 and store.upstream_position("BASIS_DLQ") == 1
    assert recorder.stored == 22 and recorder.bus.dead_lettered == 1

    # the dead letter on the wire carries the error and the original subject
    msg = await transport.js.get_msg("BASIS_DLQ", 1)
    assert msg.subject == "dlq.md.price.aave_v3.WETH" and msg.data == b"{not a message"
    assert msg.headers is not None
    assert (
        msg.headers[ERROR_HEADER].startswith("decode error")
        and msg.headers[ORIGINAL_SUBJECT_HEADER] == "md.price.aave_v3.WETH"
    )
    assert msg.headers[RUN_HEADER] == "r1"

    # a new recorder continues where the store stopped, while more is published
    await publish(transport, "r1", run[20:], first=20)
    recorder = make_recorder(transport, store, batch_size=4)
    await recorder.start()
    await eventually(lambda: store.last_position() == 32)
    await asyncio.sleep(0.2)
    await recorder.shutdown()
    assert store.last_position() == 32
    stored = [(r.subject, r.data) for r in store.read(run_id="r1") if not r.subject.startswith("dlq.")]
    for family in ("md.", "evt."):  # every message once, in stream order
        assert [x for x in stored if x[0].startswith(family)] == [x for x in run if x[0].startswith(family)]
    assert recorder.skipped == 0


async def test_starts_after_what_the_store_already_holds(transport: NatsTransport, store: LogStore) -> None:
    records = [(s, d) for s, d in sample_run("r2", 30) if s.startswith("md.")]  # 20 on BASIS_MD
    await publish(transport, "r2", records)
    # a previous recorder committed the first 12 but died before acking them
    store.append("r2", records[:12], tracking=Tracking("BASIS_MD", 12))

    recorder = make_recorder(transport, store, batch_size=5)
    await recorder.start()
    await eventually(lambda: store.last_position() == 20)
    await asyncio.sleep(0.2)
    await recorder.shutdown()
    assert [(r.subject, r.data) for r in store.read(run_id="r2")] == records
    assert store.upstream_position("BASIS_MD") == 20


async def test_redelivered_messages_are_skipped_and_acked(transport: NatsTransport, store: LogStore) -> None:
    recorder = make_recorder(transport, store)

    def delivery(seq: int) -> StoredMessage:
        subject, data = sample_run("r3", 1)[0]
        return StoredMessage("BASIS_MD", seq, subject, data, {RUN_HEADER: "r3"})

    assert await recorder._record("BASIS_MD", [delivery(1), delivery(2)], 0) == 2
    assert await recorder._record("BASIS_MD", [delivery(1), delivery(2)], 2) == 2  # both already recorded
    assert await recorder._record("BASIS_MD", [delivery(2), delivery(3)], 2) == 3
    # a stale idea of the recorded position is corrected by the store, nothing is stored twice
    assert await recorder._record("BASIS_MD", [delivery(3), delivery(4)], 0) == 4
    assert [r.seq for r in store.read(run_id="r3")] == [1, 2, 3, 4]
    assert recorder.skipped == 4


async def test_refuses_a_stream_that_went_back(transport: NatsTransport, store: LogStore) -> None:
    store.append_entries([], tracking=Tracking("BASIS_EVT", 1_000))
    recorder = make_recorder(transport, store)
    with pytest.raises(RecorderError, match="recreated"):
        await recorder.start()


async def test_run_recorder_stops_on_request(private_nats: EmbeddedNats, tmp_path: Path) -> None:
    stop = asyncio.Event()
    url = sqlite_url(tmp_path / "rec.sqlite")
    task = asyncio.create_task(run_recorder(private_nats.url, url, stop=stop, handle_signals=False))
    t = await NatsTransport.connect(private_nats.url)
    try:
        await t.ensure_streams()
        await publish(t, "r4", sample_run("r4", 6))
        with open_store(url) as reader:
            await eventually(lambda: reader.last_position() == 6)
    finally:
        await t.close()
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0


async def test_records_facts_and_views_as_checkpoints(transport: NatsTransport, store: LogStore) -> None:
    """The recorder keeps what the log rule keeps: every fact, the views of the first valuation of each
    day, and on shutdown the last view of each kind."""
    from test_log_rule import HOUR, T0, funding, valuation

    rows = []
    for hour in range(30):  # 00:00 on day one to 05:00 on day two
        rows += [funding(T0 + hour * HOUR, hour), *valuation(T0 + hour * HOUR, n=hour)]
    await publish(transport, "checkpoints", rows)
    recorder = make_recorder(transport, store, batch_size=17)
    await recorder.start()
    await eventually(lambda: recorder.stored + recorder.dropped == len(rows))
    await recorder.shutdown()

    stored = [(r.subject, r.data) for r in store.read(run_id="checkpoints")]
    views = [r for r in rows if r[0].startswith("evt.")]
    # order is stream order within a stream (across streams, commit order)
    assert [r for r in stored if r[0].startswith("md.")] == [r for r in rows if r[0].startswith("md.")]
    kept = [r for r in stored if r[0].startswith("evt.")]
    assert kept[:8] == views[:4] + views[24 * 4 : 25 * 4]  # 00:00 on each day
    assert kept[8:] == views[-4:]  # the last valuation's views, appended on shutdown
    assert recorder.dropped == 30 * 4 - 8
