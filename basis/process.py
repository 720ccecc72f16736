"""The composition root of a component process: one component, one NATS connection, one run.

``run_component`` connects (or starts an embedded nats-server when no URL is given), makes sure the
streams exist, builds the named component with the live clock and random ids, starts it, and runs until
the component is told to ``stop`` (``sys.control.<name>``) or the process gets SIGTERM/SIGINT; then it
drains the connection and exits. ``python -m basis.components NAME --nats URL`` runs :func:`main`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from basis.bus.bus import Bus
from basis.bus.clock import Clock, LiveClock
from basis.bus.embedded import EmbeddedNats
from basis.bus.errors import BusError
from basis.bus.ids import IdFactory, RandomIds
from basis.bus.transport.nats import NatsTransport
from basis.components.base import Component
from basis.components.position_monitor import PositionMonitor

log = logging.getLogger("basis.process")

ComponentFactory = Callable[[Bus, Clock, IdFactory], Component]

COMPONENTS: dict[str, ComponentFactory] = {
    "position-monitor": PositionMonitor,
}


def default_run_dir(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / "basis" / "runs" / run_id


async def run_component(
    name: str,
    nats_url: str | None,
    run_id: str,
    *,
    run_dir: Path | None = None,
    registry: dict[str, ComponentFactory] | None = None,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
) -> int:
    """Run component ``name`` until it is stopped; returns the process exit status.

    ``stop`` lets an embedding program end the run; ``handle_signals`` installs SIGTERM/SIGINT
    handlers that do the same.
    """
    factories = COMPONENTS if registry is None else registry
    factory = factories.get(name)
    if factory is None:
        raise BusError(f"unknown component {name!r}; known: {', '.join(sorted(factories))}")
    stop = stop or asyncio.Event()

    embedded: EmbeddedNats | None = None
    if nats_url is None:
        embedded = await EmbeddedNats(run_dir or default_run_dir(run_id)).astart()
        nats_url = embedded.url
        log.info("started embedded nats-server on %s (store %s)", nats_url, embedded.store_dir)

    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    transport: NatsTransport | None = None
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        transport = await NatsTransport.connect(nats_url, name=f"basis-{name}")
        await transport.ensure_streams()
        bus = Bus(transport, component=name, run_id=run_id)
        component = factory(bus, LiveClock(), RandomIds())
        await component.start()
        log.info("%s running on %s (run %s)", name, nats_url, run_id)

        stopped = asyncio.ensure_future(component.stopped.wait())
        signalled = asyncio.ensure_future(stop.wait())
        await asyncio.wait((stopped, signalled), return_when=asyncio.FIRST_COMPLETED)
        for waiter in (stopped, signalled):
            waiter.cancel()
        log.info(
            "%s stopping (%s); processed %d, dead-lettered %d",
            name,
            "stop command" if component.stopped.is_set() else "signal",
            bus.processed,
            bus.dead_lettered,
        )
        return 0
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        if transport is not None:
            await transport.close()
        if embedded is not None:
            await embedded.astop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m basis.components NAME [--nats URL] [--run-id ID]``."""
    parser = argparse.ArgumentParser(prog="python -m basis.components", description="Run one component.")
    parser.add_argument("name", choices=sorted(COMPONENTS))
    parser.add_argument("--nats", dest="nats_url", default=None, help="NATS URL; embedded server if omitted")
    parser.add_argument("--run-id", default=None, help="run id stamped on every message (default: random)")
    parser.add_argument("--run-dir", type=Path, default=None, help="where an embedded server keeps its store")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run_id = args.run_id or RandomIds().next_id()[:12]
    try:
        return asyncio.run(run_component(args.name, args.nats_url, run_id, run_dir=args.run_dir))
    except BusError as exc:
        log.error("%s", exc)
        return 1
