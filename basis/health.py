"""The health of a running system: every component answers a ping (``sys.control.<name>``) with its
heartbeat (``sys.heartbeat.<name>``), or is named as not answering (``basis status``, ``basis up``).

On a server with one user per component (``basis up --auth``) it logs in as ``operator``, the user that
may ping: its credentials are given, or found in ``$BASIS_NATS_USER`` / ``$BASIS_NATS_PASSWORD``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from basis.bus.bus import Bus
from basis.bus.credentials import Credentials
from basis.bus.ids import RandomIds
from basis.bus.messages import Control, Heartbeat
from basis.bus.transport.nats import NatsTransport


@dataclass(frozen=True, slots=True)
class Health:
    """One component's answer to a ping (``heartbeat`` None: no answer within the timeout)."""

    component: str
    heartbeat: Heartbeat | None
    latency_ms: float | None = None

    @property
    def healthy(self) -> bool:
        return self.heartbeat is not None


async def check_health(
    nats_url: str,
    components: Sequence[str],
    *,
    timeout: float = 2.0,
    credentials: Credentials | None = None,
) -> list[Health]:
    """Ping every component of ``components`` at once (``sys.control.<name>``) and collect the
    heartbeats that answer within ``timeout`` seconds (logged in as ``credentials``, else as the
    environment says)."""
    transport = await NatsTransport.connect(
        nats_url, name="basis-status", max_reconnect_attempts=1, credentials=credentials
    )
    try:
        bus = Bus(transport, component="status")
        pings = {
            name: Control(id=RandomIds().next_id(), ts=time.time_ns(), component=name, command="ping")
            for name in components
        }
        sent: dict[str, float] = {}
        answers: dict[str, tuple[Heartbeat, float]] = {}
        everyone = asyncio.Event()

        def on_heartbeat(beat: Heartbeat) -> None:
            ping = pings.get(beat.component)
            if ping is not None and beat.causation_id == ping.id and beat.component not in answers:
                answers[beat.component] = (beat, (time.perf_counter() - sent[beat.component]) * 1000.0)
                if len(answers) == len(pings):
                    everyone.set()

        await bus.subscribe("sys.heartbeat.*", on_heartbeat, types=(Heartbeat,))
        await transport.flush()
        for name, ping in pings.items():
            sent[name] = time.perf_counter()
            await bus.publish(ping)
        await transport.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone.wait(), timeout)
        return [
            Health(name, *answers[name]) if name in answers else Health(name, None) for name in components
        ]
    finally:
        await transport.close()
