"""In-memory backend (``memory://``): eventsourcing's POPO process recorder plus the run registry.

Nothing survives the process; meant for tests and quick experiments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOProcessRecorder

from .log import LogStore
from .rows import NewRun, OriginatorKey, RunRow


class MemoryLogRecorder(POPOProcessRecorder):
    """``POPOProcessRecorder`` that also records the run registry, under the same lock."""

    def __init__(self) -> None:
        super().__init__()
        self._runs: dict[str, tuple[OriginatorKey, int]] = {}

    def originator_key(self, originator_id: UUID) -> OriginatorKey:
        return originator_id

    def _update_table(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        positions = super()._update_table(stored_events, **kwargs) or []
        runs: Sequence[NewRun] = kwargs.get("runs") or ()
        for run in runs:
            self._runs[run.run_id] = (run.key, positions[run.offset])
        return positions

    def select_runs(self) -> Sequence[tuple[str, OriginatorKey, int]]:
        with self._database_lock:
            rows = [(run_id, key, first) for run_id, (key, first) in self._runs.items()]
        return sorted(rows, key=lambda row: row[2])

    def select_run_rows(
        self,
        originator_key: OriginatorKey,
        *,
        after_version: int,
        limit: int,
        start: int | None = None,
        stop: int | None = None,
        topics: Sequence[str] = (),
    ) -> Sequence[RunRow]:
        out: list[RunRow] = []
        with self._database_lock:
            index = self._stored_events_index.get(str(originator_key), {})
            version = after_version + 1
            while len(out) < limit and version in index:
                position = index[version] + 1
                version += 1
                if start is not None and position < start:
                    continue
                if stop is not None and position > stop:
                    break
                s = self._stored_events[position - 1]
                if topics and s.topic not in topics:
                    continue
                out.append((position, s.originator_version, s.topic, s.state))
        return out

    def close(self) -> None:
        """Nothing to release."""


def open_memory(url: str = "memory://") -> LogStore:
    """A new, empty in-memory store."""
    return LogStore(MemoryLogRecorder(), url)


__all__ = ["MemoryLogRecorder", "open_memory"]
