"""StoreWriter: batching, ordering, and errors that always reach the caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from storeutil import sample_run

from basis.bus.errors import StoreError
from basis.bus.store import Record, StoreWriter, Tracking, open_store


class FlakyStore:
    """Commits batches in memory; the ``fail_on``-th call to append fails."""

    url = "flaky://"

    def __init__(self, fail_on: int = 0, delay: float = 0.0) -> None:
        self.batches: list[list[Record]] = []
        self.fail_on = fail_on
        self.delay = delay
        self.calls = 0

    def append(
        self, run_id: str, records: Sequence[Record], *, tracking: Tracking | None = None
    ) -> list[int]:
        self.calls += 1
        time.sleep(self.delay)
        if self.calls == self.fail_on:
            raise StoreError("disk full")
        start = sum(map(len, self.batches))
        self.batches.append(list(records))
        return list(range(start + 1, start + len(records) + 1))


@pytest.mark.parametrize("background", [True, False], ids=["thread", "inline"])
def test_batches_are_committed_in_order(background: bool) -> None:
    store = FlakyStore(delay=0.001)
    records = sample_run("w", 95)
    with StoreWriter(store, "w", batch_size=10, background=background) as writer:  # type: ignore[arg-type]
        writer.extend(records)
        assert writer.appended == 90  # the last 5 wait for a full batch, a flush or close
    assert [len(b) for b in store.batches] == [10] * 9 + [5]
    assert [r for b in store.batches for r in b] == records
    assert writer.committed == 95 and writer.last_position == 95 and writer.pending == 0


def test_a_batch_is_handed_over_when_its_payload_reaches_batch_bytes() -> None:
    store = FlakyStore()
    records = [("md.x", b"x" * 100)] * 25
    with StoreWriter(store, "w", batch_size=1000, batch_bytes=1000, background=False) as writer:  # type: ignore[arg-type]
        writer.extend(records)
        assert writer.appended == 20  # two batches of ten 100-byte messages; five wait
    assert [len(b) for b in store.batches] == [10, 10, 5]
    with pytest.raises(ValueError, match="batch_bytes must be positive"):
        StoreWriter(store, "w", batch_bytes=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("background", [True, False], ids=["thread", "inline"])
def test_a_failed_commit_stops_writing_and_is_raised(background: bool) -> None:
    store = FlakyStore(fail_on=3)
    writer = StoreWriter(store, "w", batch_size=10, background=background)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="after 20 messages: disk full"):
        for subject, data in sample_run("w", 100):
            writer.append(subject, data)
        writer.flush()
    assert [len(b) for b in store.batches] == [10, 10]  # nothing after the failed batch
    with pytest.raises(StoreError, match="disk full"):
        writer.close()
    with pytest.raises(StoreError):
        writer.append("md.x", b"1")


def test_an_abandoned_writer_commits_what_its_thread_left(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/abandoned.sqlite"
    store = open_store(url)
    writers: list[StoreWriter] = []

    def work() -> None:  # makes a writer, appends, and ends without closing it
        writer = StoreWriter(store, "w", batch_size=1000)
        writer.extend(sample_run("w", 1500))
        writers.append(writer)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    writer = writers[0]
    assert writer._thread is not None
    writer._thread.join(5)
    assert not writer._thread.is_alive()
    assert writer.committed == 1500
    assert [(r.subject, r.data) for r in store.read(run_id="w")] == sample_run("w", 1500)
    store.close()


def test_a_closed_writer_refuses_appends() -> None:
    writer = StoreWriter(FlakyStore(), "w")  # type: ignore[arg-type]
    writer.close()
    writer.close()
    with pytest.raises(StoreError, match="closed"):
        writer.append("md.x", b"1")
    with pytest.raises(ValueError):
        StoreWriter(FlakyStore(), "w", batch_size=0)  # type: ignore[arg-type]
