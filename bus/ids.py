"""Message ids. Random ids live; sequential ids in a replay, so two runs produce the same log."""

from __future__ import annotations

import os
from typing import Protocol


class IdFactory(Protocol):
    def next_id(self) -> str: ...

    def skip_past(self, published: str) -> None:
        """``published`` is an id this factory's component published before its process restarted: never
        give it (nor, for sequential ids, an earlier one) again."""
        ...


class RandomIds:
    """128-bit random ids (hex): a restarted process draws new ones, never one it published."""

    def next_id(self) -> str:
        return os.urandom(16).hex()

    def skip_past(self, published: str) -> None:
        return None


class SequentialIds:
    """``[<run>.]<component>.<n>``: unique within a run, identical across identical runs.

    Leave ``run_id`` empty where the ids must not depend on it (a backtest's log digest)."""

    __slots__ = ("_n", "_prefix")

    def __init__(self, run_id: str, component: str) -> None:
        self._prefix = f"{run_id}.{component}." if run_id else f"{component}."
        self._n = 0

    def next_id(self) -> str:
        self._n += 1
        return f"{self._prefix}{self._n}"

    def skip_past(self, published: str) -> None:
        """Continue after ``published`` when it is one of these ids."""
        prefix = self._prefix
        if published.startswith(prefix):
            n = published[len(prefix) :]
            if n.isdigit() and int(n) > self._n:
                self._n = int(n)
