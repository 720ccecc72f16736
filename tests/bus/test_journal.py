"""The execution journal contract, for the in-memory journal and a JetStream key-value bucket on a real
nats-server; and the bucket keeps its keys through a restart of the server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from basis.bus.embedded import EmbeddedNats
from basis.bus.journal import ExecutionJournal, MemoryJournal, Recorded
from basis.bus.messages import InstructionAccepted, InstructionFilled, Message
from basis.bus.transport.jetstream_journal import JetStreamJournal, kv_key
from basis.bus.transport.nats import NatsTransport

_buckets = itertools.count(1)


def outcome(key: str) -> tuple[Message, ...]:
    return (
        InstructionAccepted(id=f"gw.{key}.1", ts=5, causation_id=key, instruction_id=key, venue="binance"),
        InstructionFilled(
            id=f"gw.{key}.2", ts=5, causation_id=key, instruction_id=key, venue="binance", changes=()
        ),
    )


@pytest.fixture(params=["memory", "jetstream"])
async def journal(
    request: pytest.FixtureRequest, nats_server: EmbeddedNats
) -> AsyncIterator[ExecutionJournal]:
    if request.param == "memory":
        yield MemoryJournal()
        return
    transport = await NatsTransport.connect(nats_server.url)
    try:
        yield await JetStreamJournal.open(transport.js, f"journal_test_{next(_buckets)}")
    finally:
        await transport.close()


async def test_a_free_key_is_claimed_once(journal: ExecutionJournal) -> None:
    assert await journal.claim("run.strategy.1") is None
    assert await journal.claim("run.strategy.1") == Recorded(())
    assert await journal.claim("run.strategy.2") is None


async def test_the_recorded_outcome_comes_back_unchanged(journal: ExecutionJournal) -> None:
    assert await journal.claim("run.router.7") is None
    await journal.complete("run.router.7", outcome("run.router.7"))
    assert await journal.claim("run.router.7") == Recorded(outcome("run.router.7"))


async def test_keys_outside_the_bucket_alphabet_are_hashed(journal: ExecutionJournal) -> None:
    odd = "live id with spaces & ünïcode"
    assert kv_key(odd) == kv_key(odd) != odd and len(kv_key(odd)) == 64
    assert kv_key("run.router.7") == "run.router.7"
    assert await journal.claim(odd) is None
    await journal.complete(odd, outcome("x"))
    assert await journal.claim(odd) == Recorded(outcome("x"))


async def test_the_memory_journal_forgets_the_oldest_keys_first() -> None:
    journal = MemoryJournal(limit=3)
    for i in range(5):
        assert await journal.claim(f"k{i}") is None
    assert len(journal) == 3
    assert await journal.claim("k4") == Recorded(())
    assert await journal.claim("k0") is None  # forgotten


async def test_the_bucket_survives_a_restart_of_the_server(tmp_path: Path) -> None:
    store = tmp_path / "js"
    with EmbeddedNats(tmp_path / "a", store_dir=store) as server:
        port = server.port
        transport = await NatsTransport.connect(server.url)
        journal = await JetStreamJournal.open(transport.js, "journal_restart")
        assert await journal.claim("run.strategy.9") is None
        await journal.complete("run.strategy.9", outcome("run.strategy.9"))
        assert await journal.claim("run.strategy.10") is None  # interrupted: claimed, no outcome
        await transport.close()
    with EmbeddedNats(tmp_path / "b", store_dir=store, port=port) as server:
        transport = await NatsTransport.connect(server.url)
        journal = await JetStreamJournal.open(transport.js, "journal_restart")
        assert await journal.claim("run.strategy.9") == Recorded(outcome("run.strategy.9"))
        assert await journal.claim("run.strategy.10") == Recorded(())
        assert await journal.claim("run.strategy.11") is None
        await transport.close()
