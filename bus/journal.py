"""The execution journal: which instruction keys a gateway has executed, and what it answered.

A gateway claims an instruction's idempotency key before it executes it and records the outcome (the
messages it published for it: accepted, filled or rejected, ...) once it has. A redelivered instruction,
or one delivered again to a gateway restarted since, finds its key claimed: the gateway answers with the
recorded outcome and executes nothing. A key claimed with no outcome recorded means the gateway stopped
while executing it; what became of it is a question for the venue (a status query by client order id),
never a second execution.

Two implementations of the :class:`ExecutionJournal` port:

* :class:`MemoryJournal` — in memory, bounded (an in-process backtest; a restart forgets it);
* :class:`JetStreamJournal` — a JetStream key-value bucket (file storage): claims are atomic creates, so
  two gateway processes that receive the same instruction cannot both execute it, and the journal
  survives a restart of the gateway and of the nats-server.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from . import codec
from .errors import TransportError
from .messages import Message

DEFAULT_BUCKET = "basis_executed"
MEMORY_LIMIT = 100_000
"""Keys a :class:`MemoryJournal` remembers (the oldest are forgotten first)."""
_KV_KEY = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


class Recorded(NamedTuple):
    """What the journal holds for a key: the outcome messages, in the order they were published (empty
    while the execution has not finished, or if it was interrupted)."""

    outcomes: tuple[Message, ...]


class ExecutionJournal(Protocol):
    async def claim(self, key: str) -> Recorded | None:
        """Claim ``key`` for execution: None when it was free (the caller executes it), else what the
        journal holds for it (the caller must not execute it)."""
        ...

    async def complete(self, key: str, outcomes: Sequence[Message]) -> None:
        """Record the outcome of the execution of a claimed ``key``."""
        ...

    async def lookup(self, key: str) -> Recorded | None:
        """What the journal holds for ``key`` (None: never claimed), claiming nothing."""
        ...


class MemoryJournal:
    """An :class:`ExecutionJournal` in memory, remembering the last ``limit`` keys."""

    __slots__ = ("_entries", "limit")

    def __init__(self, limit: int = MEMORY_LIMIT) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, tuple[Message, ...]] = OrderedDict()

    async def claim(self, key: str) -> Recorded | None:
        entries = self._entries
        found = entries.get(key)
        if found is not None:
            return Recorded(found)
        entries[key] = ()
        if len(entries) > self.limit:
            entries.popitem(last=False)
        return None

    async def complete(self, key: str, outcomes: Sequence[Message]) -> None:
        if key in self._entries:
            self._entries[key] = tuple(outcomes)

    async def lookup(self, key: str) -> Recorded | None:
        found = self._entries.get(key)
        return None if found is None else Recorded(found)

    def __len__(self) -> int:
        return len(self._entries)


def kv_key(key: str) -> str:
    """``key`` as a key-value key: itself when the bucket accepts it, else its SHA-256 (hex)."""
    if _KV_KEY.match(key) and not key.startswith(".") and not key.endswith("."):
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def encode_outcomes(outcomes: Sequence[Message]) -> bytes:
    """One JSON message per line (JSON text never holds a raw newline)."""
    return b"\n".join(codec.encode(m) for m in outcomes)


def decode_outcomes(data: bytes) -> tuple[Message, ...]:
    return tuple(codec.decode(line) for line in data.split(b"\n") if line)


class JetStreamJournal:
    """An :class:`ExecutionJournal` in the JetStream key-value bucket ``bucket`` (file storage).

    ``replicas`` > 1 on a cluster keeps the journal through the loss of a server.
    """

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @classmethod
    async def open(
        cls, js: JetStreamContext, bucket: str = DEFAULT_BUCKET, *, replicas: int = 1
    ) -> JetStreamJournal:
        """Open ``bucket``, creating it when it does not exist."""
        try:
            try:
                kv = await js.key_value(bucket)
            except nats.js.errors.BucketNotFoundError:
                kv = await js.create_key_value(
                    KeyValueConfig(bucket=bucket, history=1, storage=StorageType.FILE, replicas=replicas)
                )
        except nats.errors.Error as exc:
            raise TransportError(f"cannot open the execution journal {bucket!r}: {exc!r}") from exc
        return cls(kv)

    async def claim(self, key: str) -> Recorded | None:
        name = kv_key(key)
        try:
            await self.kv.create(name, b"")
            return None
        except nats.js.errors.KeyWrongLastSequenceError:
            pass  # claimed before: read what is recorded
        except nats.errors.Error as exc:
            raise TransportError(f"execution journal: cannot claim {key!r}: {exc!r}") from exc
        recorded = await self.lookup(key)
        if recorded is None:  # claimed, then purged under us: nothing to answer with
            raise TransportError(f"execution journal: {key!r} is claimed and cannot be read")
        return recorded

    async def lookup(self, key: str) -> Recorded | None:
        try:
            entry = await self.kv.get(kv_key(key))
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        except nats.errors.Error as exc:
            raise TransportError(f"execution journal: cannot read {key!r}: {exc!r}") from exc
        return Recorded(decode_outcomes(entry.value or b""))

    async def complete(self, key: str, outcomes: Sequence[Message]) -> None:
        try:
            await self.kv.put(kv_key(key), encode_outcomes(outcomes))
        except nats.errors.Error as exc:
            raise TransportError(f"execution journal: cannot record {key!r}: {exc!r}") from exc
