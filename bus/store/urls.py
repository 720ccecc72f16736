"""Open a store from its URL.

``sqlite:///runs/log.sqlite``
    SQLite file ``runs/log.sqlite`` (relative to the working directory); ``sqlite:////var/basis/log.sqlite``
    for an absolute path (the usual SQLAlchemy form: three slashes, then the path). Option
    ``?synchronous=full|normal|off`` (default ``full``), ``?lock_timeout=SECONDS``. A bare path (no scheme)
    is a SQLite file too.
``postgresql://user:password@host:port/dbname?schema=basis&prefix=basis_``
    PostgreSQL; see :class:`~basis.bus.store.postgres.PostgresLocation` for the options.
``memory://``
    A new, empty in-memory store (eventsourcing's POPO recorder).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import StoreError
from .log import LogStore
from .sqlite import Synchronous

DEFAULT_STORE_URL = "sqlite:///runs/basis.sqlite"


def sqlite_path(url: str) -> Path:
    """The file named by a ``sqlite:///`` URL (or a bare path)."""
    if "://" not in url:
        return Path(url)
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc:
        raise ValueError(f"not a SQLite URL (sqlite:///relative/path or sqlite:////absolute/path): {url!r}")
    path = unquote(parts.path)[1:]
    if not path:
        raise ValueError(f"SQLite URL without a path: {url!r}")
    return Path(path)


def open_store(url: str = DEFAULT_STORE_URL) -> LogStore:
    """Open the event store at ``url`` (creating it if needed)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "memory":
        from .memory import open_memory

        return open_memory(url)
    if scheme in ("postgresql", "postgres"):
        from .postgres import open_postgres

        return open_postgres(url)
    if scheme in ("", "sqlite"):
        from .sqlite import open_sqlite

        query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()} if scheme else {}
        unknown = set(query) - {"synchronous", "lock_timeout"}
        if unknown:
            raise ValueError(f"unknown SQLite store option(s) {', '.join(sorted(unknown))} in {url!r}")
        synchronous = query.get("synchronous", "full").lower()  # open_sqlite checks it
        lock_timeout = int(query["lock_timeout"]) if "lock_timeout" in query else None
        path = sqlite_path(url.split("?", 1)[0])
        sync: Synchronous = synchronous  # type: ignore[assignment]
        return open_sqlite(path, synchronous=sync, lock_timeout=lock_timeout, url=url)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///PATH, postgresql://... or memory://")


def open_existing_store(url: str) -> LogStore:
    """Open a store that must already exist: reading never creates an empty SQLite file."""
    if "://" not in url or url.lower().startswith("sqlite:"):
        path = sqlite_path(url.split("?", 1)[0])
        if not path.is_file():
            raise StoreError(f"no event store at {path} (--store {url})")
    return open_store(url)
