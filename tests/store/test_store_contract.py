"""The event store contract, run against every backend: SQLite file, memory, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from storeutil import sample_run

from basis.bus.errors import StoreError, SubjectError
from basis.bus.store import (
    AlreadyRecorded,
    LogStore,
    RunInfo,
    StoreConflict,
    StoreWriter,
    Tracking,
    UnknownRun,
    digest,
    digest_records,
    open_store,
    sqlite_url,
)

# sha256 of sample_run("digest-run") under the documented encoding; every backend must give it. It changes
# only when the encoding of a message in the sample does (InstructionFilled gained `remaining`).
REFERENCE_DIGEST = "4aeb6b809160ad8fcd800a68a6591f097ceb48ba6b69a9bfe006f1fd45dfaa60"


def positions(records: Sequence[Any]) -> list[int]:
    return [r.position for r in records]


class StoreContract:
    """What every backend guarantees. Subclasses give ``url`` and say whether data outlives a handle."""

    persistent = True

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def store(self, url: str) -> Iterator[LogStore]:
        s = open_store(url)
        yield s
        s.close()

    def open_again(self, store: LogStore) -> LogStore:
        """A second, independent handle on the same log (its own caches and connections)."""
        return open_store(self._url)

    @pytest.fixture(autouse=True)
    def _remember_url(self, url: str) -> None:
        self._url = url

    # --- order -----------------------------------------------------------------------------------

    def test_positions_are_global_and_gap_free(self, store: LogStore) -> None:
        assert store.last_position() == 0
        got: list[int] = []
        got += store.append("a", sample_run("a", 5))
        got += store.append("b", sample_run("b", 1))
        got += store.append("a", sample_run("a", 2000)[5:])
        got += store.append("c", sample_run("c", 3))
        assert got == list(range(1, 2005))
        assert store.last_position() == 2004
        assert positions(list(store.read(batch=333))) == list(range(1, 2005))

    def test_each_run_is_numbered_from_one(self, store: LogStore) -> None:
        store.append("a", sample_run("a", 4))
        store.append("b", sample_run("b", 2))
        store.append("a", sample_run("a", 7)[4:])
        assert [r.seq for r in store.read(run_id="a")] == list(range(1, 8))
        assert [r.seq for r in store.read(run_id="b")] == [1, 2]
        assert [(r.run_id, r.seq) for r in store.read()][:7] == [
            ("a", 1),
            ("a", 2),
            ("a", 3),
            ("a", 4),
            ("b", 1),
            ("b", 2),
            ("a", 5),
        ]

    def test_payloads_come_back_byte_for_byte(self, store: LogStore) -> None:
        records = [*sample_run("a", 10), ("dlq.md.price.x.y", b"\x00\xff not json \n\t\\"), ("md.a.b.c", b"")]
        store.append("a", records)
        back = list(store.read())
        assert [(r.subject, r.data) for r in back] == records
        assert all(type(r.data) is bytes for r in back)
        assert back[0].message().id == "a.feed.1"

    def test_append_entries_keeps_the_given_order(self, store: LogStore) -> None:
        a, b = sample_run("a", 3), sample_run("b", 3)
        entries = [("a", *a[0]), ("b", *b[0]), ("b", *b[1]), ("a", *a[1]), ("c", "md.x", b"1"), ("a", *a[2])]
        assert store.append_entries(entries) == [1, 2, 3, 4, 5, 6]
        back = list(store.read())
        assert [(r.run_id, r.seq, r.subject, r.data) for r in back] == [
            (run, seq, subject, data)
            for (run, subject, data), seq in zip(entries, [1, 1, 2, 2, 1, 3], strict=True)
        ]
        assert store.append("b", [("md.y", b"2")]) == [7]
        assert [r.seq for r in store.read(run_id="b")] == [1, 2, 3]

    def test_empty_append_writes_nothing(self, store: LogStore) -> None:
        assert store.append("a", []) == []
        assert store.append_entries([]) == []
        assert store.last_position() == 0
        assert store.runs() == []

    # --- atomicity ---------------------------------------------------------------------------------

    def test_a_rejected_batch_writes_nothing(self, store: LogStore) -> None:
        store.append("b", sample_run("b", 2))
        other = self.open_again(store)
        try:
            other.append("b", [("md.q", b"from the other writer")])  # store's idea of run b is now stale
        finally:
            other.close()
        # 3000 rows of a new run go first (several insert statements), then run b's row conflicts
        big = [("new", *r) for r in sample_run("new", 3000)] + [("b", "md.q", b"conflicting")]
        with pytest.raises(StoreConflict):
            store.append_entries(big)
        assert store.last_position() == 3
        assert [r.run_id for r in store.runs()] == ["b"]
        assert list(store.read(run_id="new")) == []
        # the store reloaded run b: the next append follows the other writer's message
        assert store.append("b", [("md.q", b"after")]) == [4]
        assert [r.seq for r in store.read(run_id="b")] == [1, 2, 3, 4]

    # --- reading ----------------------------------------------------------------------------------

    def test_read_filters_by_run(self, store: LogStore) -> None:
        a, b = sample_run("a", 40), sample_run("b", 40)
        for i in range(0, 40, 10):
            store.append("a", a[i : i + 10])
            store.append("b", b[i : i + 10])
        got = list(store.read(run_id="a", batch=7))
        assert [(r.subject, r.data) for r in got] == a
        assert [r.seq for r in got] == list(range(1, 41))
        assert positions(got) == sorted(positions(got))
        assert {r.run_id for r in got} == {"a"}
        assert list(store.read(run_id="nobody")) == []

    def test_read_filters_by_subject_pattern(self, store: LogStore) -> None:
        records = [
            *sample_run("a", 30),
            ("dlq.md.price.aave_v3.WETH", b"raw"),
            ("md.price.aave_v3", b"short"),
        ]
        store.append("a", records)
        store.append("b", sample_run("b", 9))

        def subjects_of(**kw: Any) -> list[str]:
            return [r.subject for r in store.read(batch=4, **kw)]

        weth = "md.price.aave_v3.WETH"
        assert subjects_of(run_id="a", subject=weth) == [s for s, _ in records if s == weth]
        assert subjects_of(subject="md.>") == [s for s, _ in records if s.startswith("md.")] + [
            s for s, _ in sample_run("b", 9) if s.startswith("md.")
        ]
        assert subjects_of(run_id="a", subject="md.price.*.*") == [
            s for s, _ in records if s.startswith("md.price.") and s.count(".") == 3
        ]
        assert subjects_of(run_id="a", subject="*.binance.*") == [
            s for s, _ in records if s.startswith("evt.binance.")
        ]
        assert subjects_of(run_id="a", subject="dlq.>") == ["dlq.md.price.aave_v3.WETH"]
        assert subjects_of(subject="nothing.here") == []
        with pytest.raises(SubjectError):
            store.read(subject="md.>.x")

    def test_read_from_a_position_and_up_to_stop(self, store: LogStore) -> None:
        store.append("a", sample_run("a", 50))
        store.append("b", sample_run("b", 50))
        assert positions(list(store.read(start=37, batch=5))) == list(range(37, 101))
        assert positions(list(store.read(start=37, stop=61, batch=5))) == list(range(37, 62))
        assert positions(list(store.read(run_id="b", start=60, stop=70, batch=3))) == list(range(60, 71))
        assert positions(list(store.read(run_id="a", start=45, subject="evt.>"))) == [
            r.position for r in store.read(run_id="a", subject="evt.>") if r.position >= 45
        ]
        assert list(store.read(start=101)) == []
        assert positions(list(store.read(start=0, stop=2))) == [1, 2]

    def test_read_streams_page_by_page(self, store: LogStore) -> None:
        store.append("a", sample_run("a", 100))
        pages: list[int] = []
        recorder: Any = store.recorder
        select = recorder.select_notifications

        def spy(*args: Any, **kwargs: Any) -> Any:
            page = select(*args, **kwargs)
            pages.append(len(page))
            return page

        recorder.select_notifications = spy
        try:
            reader = store.read(batch=16)
            assert pages == []  # nothing is read before the first record is asked for
            first = next(reader)
            assert first.position == 1 and pages == [16]
            store.append("a", sample_run("a", 110)[100:])  # appended while reading: still delivered
            assert len(list(reader)) == 109
        finally:
            recorder.select_notifications = select
        assert max(pages) <= 16 and sum(pages) == 110

    def test_read_rejects_a_bad_batch(self, store: LogStore) -> None:
        with pytest.raises(ValueError):
            store.read(batch=0)

    # --- tracking ---------------------------------------------------------------------------------

    def test_tracking_rejects_duplicates_atomically(self, store: LogStore) -> None:
        assert store.upstream_position("BASIS_MD") == 0
        assert store.append("a", sample_run("a", 3), tracking=Tracking("BASIS_MD", 5)) == [1, 2, 3]
        assert store.upstream_position("BASIS_MD") == 5
        for again in (5, 4):
            with pytest.raises(AlreadyRecorded) as info:
                store.append_entries(
                    [("a", "md.dup", b"x"), ("z", "md.dup", b"y")], tracking=Tracking("BASIS_MD", again)
                )
            assert (info.value.upstream, info.value.position, info.value.recorded) == ("BASIS_MD", again, 5)
        assert store.last_position() == 3
        assert [r.run_id for r in store.runs()] == ["a"]
        assert store.append("a", [("md.ok", b"1")], tracking=Tracking("BASIS_MD", 9)) == [4]
        assert [r.seq for r in store.read(run_id="a")] == [1, 2, 3, 4]
        # upstreams are independent
        assert store.append("a", [("evt.ok", b"2")], tracking=Tracking("BASIS_EVT", 1)) == [5]
        assert (store.upstream_position("BASIS_MD"), store.upstream_position("BASIS_EVT")) == (9, 1)

    def test_tracking_alone_moves_the_upstream_position(self, store: LogStore) -> None:
        assert store.append_entries([], tracking=Tracking("BASIS_DLQ", 7)) == []
        assert store.upstream_position("BASIS_DLQ") == 7
        assert store.last_position() == 0
        with pytest.raises(AlreadyRecorded):
            store.append("a", [("dlq.x", b"1")], tracking=Tracking("BASIS_DLQ", 7))

    # --- runs and digest --------------------------------------------------------------------------

    def test_runs_registry(self, store: LogStore) -> None:
        store.append("a", sample_run("a", 3))
        store.append_entries([("b", "md.x", b"1"), ("a", "md.x", b"2"), ("c", "md.x", b"3")])
        store.append("b", [("md.y", b"4")])
        assert store.runs() == [RunInfo("a", 1, 4), RunInfo("b", 4, 2), RunInfo("c", 6, 1)]
        assert store.run_info("b") == RunInfo("b", 4, 2)
        assert store.run_info("nobody") is None

    def test_digest_is_the_reference_digest(self, store: LogStore) -> None:
        run = sample_run("digest-run", 30)
        noise = sample_run("noise", 15)
        for i in range(0, 30, 7):  # interleaved with another run, in uneven batches
            store.append("noise", noise[i // 7 * 3 : i // 7 * 3 + 3])
            store.append("digest-run", run[i : i + 7])
        assert digest(store, "digest-run") == digest_records(run) == REFERENCE_DIGEST
        assert digest(store, "noise") == digest_records(noise)
        with pytest.raises(UnknownRun):
            digest(store, "nobody")

    # --- batching writer --------------------------------------------------------------------------

    @pytest.mark.parametrize("background", [True, False], ids=["thread", "inline"])
    def test_writer_commits_everything_in_order(self, store: LogStore, background: bool) -> None:
        records = sample_run("w", 2500)
        store.append("other", sample_run("other", 2))
        with StoreWriter(store, "w", batch_size=300, background=background) as writer:
            for subject, data in records[:2000]:
                writer.append(subject, data)
            writer.flush()
            assert writer.committed == 2000 and writer.pending == 0
            assert store.run_info("w") == RunInfo("w", 3, 2000)
            writer.extend(records[2000:])
        assert writer.committed == 2500 and writer.last_position == 2502
        got = list(store.read(run_id="w"))
        assert [(r.subject, r.data) for r in got] == records
        assert positions(got) == list(range(3, 2503))

    def test_writer_surfaces_a_failed_commit(self, store: LogStore) -> None:
        other = self.open_again(store)
        try:
            writer = StoreWriter(other, "w", batch_size=10)
            writer.extend(sample_run("w", 5))
            other.close()  # the next commit fails
            writer.extend(sample_run("w", 25)[5:])
            with pytest.raises(StoreError, match="closed"):
                writer.close()
            with pytest.raises(StoreError):
                writer.append("md.x", b"1")
        finally:
            other.close()

    # --- lifecycle --------------------------------------------------------------------------------

    def test_reopened_store_continues_each_run(self, store: LogStore) -> None:
        if not self.persistent:
            pytest.skip("nothing outlives an in-memory store")
        store.append("a", sample_run("a", 3), tracking=Tracking("S", 3))
        store.append("b", sample_run("b", 1))
        store.close()
        again = open_store(self._url)
        try:
            assert again.append("a", [("md.x", b"4")]) == [5]
            assert [r.seq for r in again.read(run_id="a")] == [1, 2, 3, 4]
            assert again.upstream_position("S") == 3
            assert [r.run_id for r in again.runs()] == ["a", "b"]
            assert [r.run_id for r in again.read()] == ["a", "a", "a", "b", "a"]
        finally:
            again.close()

    def test_a_closed_store_refuses_work(self, store: LogStore) -> None:
        store.close()
        store.close()  # idempotent
        with pytest.raises(StoreError):
            store.append("a", [("md.x", b"1")])
        with pytest.raises(StoreError):
            store.read()


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return sqlite_url(tmp_path / "store" / "log.sqlite")

    def test_file_is_in_wal_mode(self, store: LogStore, tmp_path: Path) -> None:
        import sqlite3

        store.append("a", [("md.x", b"1")])
        with sqlite3.connect(tmp_path / "store" / "log.sqlite") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


class TestMemoryStore(StoreContract):
    persistent = False

    @pytest.fixture
    def url(self) -> str:
        return "memory://"

    def open_again(self, store: LogStore) -> LogStore:
        return LogStore(store.recorder, store.url)


@pytest.mark.postgres
class TestPostgresStore(StoreContract):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url


def test_identical_runs_have_one_digest_in_any_file_and_backend(tmp_path: Path) -> None:
    run = sample_run("digest-run", 30)
    digests = []
    for url in (sqlite_url(tmp_path / "one.sqlite"), sqlite_url(tmp_path / "two.sqlite"), "memory://"):
        with open_store(url) as store:
            if "two" in url:
                store.append("earlier", sample_run("earlier", 11))
            for record in run:
                store.append("digest-run", [record])
            digests.append(digest(store, "digest-run"))
    assert digests == [REFERENCE_DIGEST] * 3
