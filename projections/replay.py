"""Replay a stored run into a :class:`RunProjection` (needs only the store's ``read``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from basis.bus import subjects
from basis.bus.codec import decode
from basis.bus.messages import Message
from basis.components.pricing import PriceBook
from basis.components.risk_monitor import RiskBook

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


def positioned_messages_of(store: EventStore, run_id: str) -> Iterator[tuple[int, Message]]:
    """Like :func:`messages_of`, each with its global position in the store."""
    for record in store.read(run_id=run_id):
        if record.subject.startswith(subjects.DLQ + "."):
            continue
        yield record.position, decode(record.data)


def replay(
    store: EventStore,
    run_id: str,
    share_class: str = "USDT",
    *,
    prices: PriceBook | None = None,
    risk: RiskBook | None = None,
) -> RunProjection:
    """Rebuild run ``run_id`` from ``store``: positions, PnL and every view at every valuation, each
    stored checkpoint checked (risk assessments only with ``risk``, the run's risk rules)."""
    return RunProjection(share_class, prices=prices, risk=risk).run(positioned_messages_of(store, run_id))


def verify_run(
    store: EventStore, run_id: str, share_class: str = "USDT", *, prices: PriceBook | None = None
) -> list[str]:
    """Replay run ``run_id``: every stored checkpoint, and the last snapshots, against the rebuild."""
    return verify(replay(store, run_id, share_class, prices=prices))
