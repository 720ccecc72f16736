"""A run's fingerprint: sha256 over its messages in log order.

Each message contributes ``len(subject) (4 bytes, big-endian) || subject (UTF-8) || len(data) (8 bytes,
big-endian) || data``. Payloads are the exact bytes published (msgspec JSON, deterministic for equal
messages), and neither positions nor the run id take part, so two identical runs give the same digest in
any store and any backend. Reproduce it elsewhere with::

    h = sha256()
    for subject, data in messages: h.update(pack(">I", len(s := subject.encode())) + s + pack(">Q", len(data)) + data)
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

from .errors import UnknownRun
from .port import EventStore

_SUBJECT_LEN = struct.Struct(">I")
_DATA_LEN = struct.Struct(">Q")


def digest_records(records: Iterable[tuple[str, bytes]]) -> str:
    """Hex sha256 of ``(subject, data)`` pairs in order."""
    h = hashlib.sha256()
    update = h.update
    for subject, data in records:
        encoded = subject.encode()
        update(_SUBJECT_LEN.pack(len(encoded)))
        update(encoded)
        update(_DATA_LEN.pack(len(data)))
        update(data)
    return h.hexdigest()


def digest(store: EventStore, run_id: str, *, subject: str | None = None) -> str:
    """Hex sha256 of run ``run_id``'s messages (only those matching ``subject`` when given).

    Raises :class:`~basis.bus.store.errors.UnknownRun` if the store holds no message of the run.
    """
    if store.run_info(run_id) is None:
        raise UnknownRun(run_id)
    return digest_records((r.subject, r.data) for r in store.read(run_id=run_id, subject=subject, batch=5000))
