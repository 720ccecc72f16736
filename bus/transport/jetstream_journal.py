"""The execution journal in a JetStream key-value bucket (see :mod:`basis.bus.journal` for the port)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from .. import codec
from ..errors import TransportError
from ..journal import DEFAULT_BUCKET, Recorded
from ..messages import Message

_KV_KEY = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


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
