"""Batched appends for hot paths (backtests): commit every ``batch_size`` messages or ``batch_bytes`` of
payload, whichever comes first, or on flush/close.

::

    with StoreWriter(store, run_id) as log:
        for message in messages:
            log.append(subject_of(message), encode(message))
    # every message is committed here, or an exception says why not

With ``background=True`` (default) full batches are committed by a writer thread while the caller goes
on (the database drivers release the GIL while they write and wait for the disk); at most
``max_pending`` batches wait in line, then :meth:`append` blocks, so the memory held for the store stays
below about ``(max_pending + 2) × batch_bytes`` whatever the messages weigh. Close the writer (or use
``with``); if the thread that made it ends without closing it, the writer thread commits what was left and
stops. Batches are committed in order, each in one transaction. If a commit fails, nothing after it is written, and the error is raised by the next
:meth:`append`, :meth:`flush` or :meth:`close` (as :class:`~basis.bus.errors.StoreError`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Self

from ..errors import StoreError
from .port import EventStore, Record

_STOP = None


class StoreWriter:
    """Appends one run's messages to a store in large transactions."""

    def __init__(
        self,
        store: EventStore,
        run_id: str,
        *,
        batch_size: int = 10_000,
        batch_bytes: int = 4 << 20,
        background: bool = True,
        max_pending: int = 4,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        if batch_bytes < 1:
            raise ValueError(f"batch_bytes must be positive, not {batch_bytes}")
        self.store = store
        self.run_id = run_id
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.background = background
        self.appended = 0
        """Messages handed over for commit so far (not those still waiting for a full batch)."""
        self.committed = 0
        """Messages committed so far."""
        self.last_position = 0
        """Global position of the last committed message (0 before the first commit)."""
        self._buffer: list[Record] = []
        self._buffered_bytes = 0
        self._error: BaseException | None = None
        self._closed = False
        self._queue: queue.Queue[list[Record] | None] | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(maxsize=max(1, max_pending))
            self._owner = threading.current_thread()
            self._thread = threading.Thread(target=self._work, name=f"store-writer-{run_id}")
            self._thread.start()

    # --- caller side ---------------------------------------------------------------------------

    def append(self, subject: str, data: bytes) -> None:
        """Queue one message; commits a batch when ``batch_size`` messages or ``batch_bytes`` are waiting."""
        if self._error is not None or self._closed:
            self._raise()
        buffer = self._buffer
        buffer.append((subject, data))
        self._buffered_bytes += len(data)
        if len(buffer) >= self.batch_size or self._buffered_bytes >= self.batch_bytes:
            self._hand_off()

    def extend(self, records: Iterable[Record]) -> None:
        """Queue many ``(subject, data)`` messages."""
        for subject, data in records:
            self.append(subject, data)

    def flush(self) -> None:
        """Commit everything appended so far; returns once it is committed (or raises)."""
        if self._error is not None or self._closed:
            self._raise()
        if self._buffer:
            self._hand_off()
        if self._queue is not None:
            self._queue.join()
        if self._error is not None:
            self._raise()

    def close(self) -> None:
        """Flush, stop the writer thread, and raise if anything could not be committed. Idempotent."""
        if self._closed:
            if self._error is not None:
                self._raise()
            return
        try:
            if self._error is None and self._buffer:
                self._hand_off()
        finally:
            self._closed = True
            if self._queue is not None and self._thread is not None:
                self._queue.put(_STOP)
                self._thread.join()
        if self._error is not None:
            self._raise()

    @property
    def pending(self) -> int:
        """Messages handed over for commit but not committed yet (0 after a failed commit)."""
        return self.appended - self.committed if self._error is None else 0

    def _hand_off(self) -> None:
        batch, self._buffer = self._buffer, []
        self._buffered_bytes = 0
        self.appended += len(batch)
        if self._queue is None:
            self._commit(batch)
            if self._error is not None:
                self._raise()
        else:
            self._queue.put(batch)

    def _raise(self) -> None:
        if self._error is not None:
            raise StoreError(
                f"writing run {self.run_id!r} to {self.store.url} failed after {self.committed} messages: "
                f"{self._error}"
            ) from self._error
        raise StoreError(f"writer for run {self.run_id!r} is closed")

    # --- writer side ---------------------------------------------------------------------------

    def _commit(self, batch: list[Record]) -> None:
        if self._error is not None:
            return  # nothing is written after a failed batch
        try:
            positions = self.store.append(self.run_id, batch)
        except BaseException as exc:  # handed back to the caller, never dropped
            self._error = exc
            return
        self.committed += len(batch)
        if positions:
            self.last_position = positions[-1]

    def _work(self) -> None:
        assert self._queue is not None
        while True:
            try:
                batch = self._queue.get(timeout=0.25)
            except queue.Empty:
                if not self._owner.is_alive():
                    self._commit_leftovers()
                    return
                continue
            try:
                if batch is _STOP:
                    return
                self._commit(batch)
            finally:
                self._queue.task_done()

    def _commit_leftovers(self) -> None:
        """The thread that made the writer ended without closing it: commit what it left."""
        batch, self._buffer = self._buffer, []
        self._buffered_bytes = 0
        if batch and not self._closed:
            self.appended += len(batch)
            self._commit(batch)
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if e is None:
            self.close()
            return
        try:  # already failing: commit what we can, but let the original error through
            self.close()
        except StoreError:
            pass
