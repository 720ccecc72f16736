"""Store URLs: which backend, which file or database, which options."""

from __future__ import annotations

from pathlib import Path

import pytest

from basis.bus.store import open_store, sqlite_path, sqlite_url
from basis.bus.store.memory import MemoryLogRecorder
from basis.bus.store.postgres import PostgresLocation
from basis.bus.store.sqlite import SQLiteLogRecorder


def test_sqlite_paths_follow_the_three_slash_convention() -> None:
    assert sqlite_path("sqlite:///runs/basis.sqlite") == Path("runs/basis.sqlite")
    assert sqlite_path("sqlite:////var/basis/log.sqlite") == Path("/var/basis/log.sqlite")
    assert sqlite_path("runs/basis.sqlite") == Path("runs/basis.sqlite")
    assert sqlite_path(sqlite_url(Path("/tmp/x.sqlite"))) == Path("/tmp/x.sqlite")
    assert sqlite_path(sqlite_url("a/b.sqlite")) == Path("a/b.sqlite")
    for bad in ("sqlite://host/x.sqlite", "sqlite:///", "postgresql:///x"):
        with pytest.raises(ValueError):
            sqlite_path(bad)


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    with open_store(f"{sqlite_url(tmp_path / 'a' / 'log.sqlite')}?synchronous=normal") as store:
        assert isinstance(store.recorder, SQLiteLogRecorder)
        assert store.append("r", [("md.x", b"1")]) == [1]
    assert (tmp_path / "a" / "log.sqlite").is_file()
    with open_store(str(tmp_path / "bare.sqlite")) as store:
        assert isinstance(store.recorder, SQLiteLogRecorder)
    with open_store("memory://") as one, open_store("memory://") as two:
        assert isinstance(one.recorder, MemoryLogRecorder)
        one.append("r", [("md.x", b"1")])
        assert two.last_position() == 0  # every memory:// store is a new one


@pytest.mark.parametrize(
    "url",
    [
        "mysql://localhost/x",
        "sqlite:///x.sqlite?synchronous=sometimes",
        "sqlite:///x.sqlite?journal=delete",
        "postgresql://localhost/x?tables=y",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        open_store(url)


def test_postgres_location() -> None:
    location = PostgresLocation.parse(
        "postgresql://alice:s%40cret@db.example:6543/basis?schema=live&prefix=p_"
    )
    assert (location.user, location.password, location.host, location.port, location.dbname) == (
        "alice",
        "s@cret",
        "db.example",
        6543,
        "basis",
    )
    assert (location.schema, location.prefix, location.pool_size) == ("live", "p_", 2)
    assert "s@cret" not in location.redacted() and "alice:***@" in location.redacted()
    default = PostgresLocation.parse("postgres://")
    assert (default.user, default.host, default.port, default.dbname, default.schema, default.prefix) == (
        "postgres",
        "127.0.0.1",
        5432,
        "test",
        "public",
        "basis_",
    )
