"""Message ids. Random ids live; sequential ids in a replay, so two runs produce the same log."""

from __future__ import annotations

import uuid
from typing import Protocol


class IdFactory(Protocol):
    def next_id(self) -> str: ...


class RandomIds:
    """128-bit random ids (hex)."""

    def next_id(self) -> str:
        return uuid.uuid4().hex


class SequentialIds:
    """``<run>.<component>.<n>``: unique within a run, identical across identical runs."""

    __slots__ = ("_prefix", "_n")

    def __init__(self, run_id: str, component: str) -> None:
        self._prefix = f"{run_id}.{component}."
        self._n = 0

    def next_id(self) -> str:
        self._n += 1
        return f"{self._prefix}{self._n}"
