"""The in-process wildcard matcher agrees with a real nats-server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import nats
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from basis.bus import subjects
from basis.bus.embedded import EmbeddedNats

TOKENS = st.sampled_from(["a", "b", "c", "d"])
SUBJECTS = st.lists(TOKENS, min_size=1, max_size=5).map(".".join)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(st.one_of(TOKENS, st.just("*")), min_size=1, max_size=5))
    if draw(st.booleans()):
        tokens = [*draw(st.lists(st.one_of(TOKENS, st.just("*")), min_size=0, max_size=4)), ">"]
    return ".".join(tokens)


class ServerProbe:
    """Asks the real server whether a subscription to ``pattern`` receives a message on ``subject``."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.nc: Client = self.loop.run_until_complete(nats.connect(url))
        self.sentinel = self.loop.run_until_complete(self.nc.subscribe("probe.sentinel"))

    async def _delivered(self, pattern: str, subject: str) -> bool:
        sub = await self.nc.subscribe(pattern)
        marker = uuid.uuid4().bytes
        await self.nc.publish(subject, marker)
        # The server keeps the order of one publisher's messages to one connection: once the sentinel
        # published after the probe is back, the probe message (if it matched) is already queued.
        done = b"done:" + marker
        await self.nc.publish("probe.sentinel", done)
        while (await self.sentinel.next_msg(timeout=2)).data != done:
            pass
        seen = False
        while sub.pending_msgs:
            msg = await sub.next_msg(timeout=1)
            seen = seen or msg.data == marker
        await sub.unsubscribe()
        return seen

    def delivered(self, pattern: str, subject: str) -> bool:
        return self.loop.run_until_complete(self._delivered(pattern, subject))

    def close(self) -> None:
        self.loop.run_until_complete(self.nc.close())
        self.loop.close()


@pytest.fixture(scope="module")
def probe(nats_server: EmbeddedNats) -> Iterator[ServerProbe]:
    server_probe = ServerProbe(nats_server.url)
    yield server_probe
    server_probe.close()


@settings(max_examples=100, deadline=None)
@given(pattern=patterns(), subject=SUBJECTS)
def test_matcher_agrees_with_nats_server(probe: ServerProbe, pattern: str, subject: str) -> None:
    subjects.validate_pattern(pattern)
    assert subjects.matches(pattern, subject) == probe.delivered(pattern, subject)


@settings(max_examples=60, deadline=None)
@given(subject=SUBJECTS, data=st.data())
def test_matcher_agrees_on_patterns_derived_from_the_subject(
    probe: ServerProbe, subject: str, data: st.DataObject
) -> None:
    """Patterns built from the subject itself, so that most of them match."""
    tokens = subject.split(".")
    starred = [data.draw(st.sampled_from([t, "*"])) for t in tokens]
    cut = data.draw(st.integers(0, len(tokens)))
    pattern = ".".join([*starred[:cut], ">"]) if data.draw(st.booleans()) else ".".join(starred)
    assert subjects.matches(pattern, subject) == probe.delivered(pattern, subject)
