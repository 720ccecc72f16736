"""Fixtures of the venue tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from venueutil import Harness


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness()
    await harness.start_recording()
    yield harness
    await harness.transport.close()
    assert not harness.dead_letters, f"handlers failed on {harness.dead_letters}"
