"""Replay a stored run into a :class:`RunProjection` (needs only the store's ``read``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from basis.bus import subjects
from basis.bus.codec import decode
from basis.bus.messages import Message
from basis.components.pricing import PriceBook

from .run import RunProjection, verify

if TYPE_CHECKING:  # the projections need only ``read``; no import of the store at run time
    from basis.bus.store import EventStore


def messages_of(store: EventStore, run_id: str) -> Iterator[Message]:
    """The run's messages in log order, decoded; dead letters (``dlq.*``, copies of payloads a
    consumer could not handle) are skipped."""
    for record in store.read(run_id=run_id):
        if record.subject.startswith(subjects.DLQ + "."):
            continue
        yield decode(record.data)


def replay(
    store: EventStore, run_id: str, share_class: str = "USDT", *, prices: PriceBook | None = None
) -> RunProjection:
    """Rebuild run ``run_id`` from ``store``."""
    return RunProjection(share_class, prices=prices).run(messages_of(store, run_id))


def verify_run(
    store: EventStore, run_id: str, share_class: str = "USDT", *, prices: PriceBook | None = None
) -> list[str]:
    """Replay run ``run_id`` and compare it with the last snapshots its monitors recorded."""
    return verify(replay(store, run_id, share_class, prices=prices))
