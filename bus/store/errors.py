"""Errors of the event store (all are :class:`~basis.bus.errors.StoreError`).

StoreError
├── StoreConflict        another writer appended to the same run; nothing of the batch was written
│   └── AlreadyRecorded  the batch's upstream position is already recorded (a duplicate delivery)
└── UnknownRun           no message of that run is in the store
"""

from __future__ import annotations

from ..errors import StoreError


class StoreConflict(StoreError):
    """The batch was rejected as a whole: it would have broken a run's sequence or an upstream position."""


class AlreadyRecorded(StoreConflict):
    """The upstream position given with the batch is not above the one already recorded."""

    def __init__(self, upstream: str, position: int, recorded: int) -> None:
        super().__init__(f"{upstream} position {position} is already recorded (recorded up to {recorded})")
        self.upstream = upstream
        self.position = position
        self.recorded = recorded


class UnknownRun(StoreError):
    """The store holds no message of this run."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id!r} in the store")
        self.run_id = run_id


__all__ = ["AlreadyRecorded", "StoreConflict", "StoreError", "UnknownRun"]
