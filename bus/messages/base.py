"""The envelope every message on the bus shares."""

from __future__ import annotations

import msgspec

SCHEMA_VERSION = 1


class Message(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="type",
    tag=True,
    forbid_unknown_fields=True,
):
    """Base of every bus message.

    ``id`` is unique per message (it is also the JetStream ``Nats-Msg-Id``); ``correlation_id`` ties
    together everything that follows from one decision or market event; ``causation_id`` is the id of
    the message that directly caused this one. ``ts`` is nanoseconds since the Unix epoch, UTC (the
    simulation clock in a backtest, the wall clock live).
    """

    id: str
    ts: int
    correlation_id: str = ""
    causation_id: str = ""
    schema_version: int = SCHEMA_VERSION
