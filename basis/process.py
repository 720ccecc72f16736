"""The composition root of a component process: one component, one NATS connection, one run.

``run_component`` connects (or starts an embedded nats-server when no URL is given), makes sure the
streams exist, builds the named component with the live clock and random ids, starts it, and runs until
the component is told to ``stop`` (``sys.control.<name>``) or the process gets SIGTERM/SIGINT; then it
drains the connection and exits. ``python -m basis.components NAME --nats URL`` runs :func:`main`.

The components of :data:`COMPONENTS` need no configuration. Those of :data:`MODE_COMPONENTS` (the
exposure, risk and PnL monitors) are built from a strategy mode and an environment (``--mode M --env E``,
:func:`load_mode_setup`): the share class, the price references and perp marks (``price_sources``),
and the mode's risk limits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from basis.bus.bus import Bus
from basis.bus.clock import Clock, LiveClock
from basis.bus.component import Component
from basis.bus.embedded import EmbeddedNats
from basis.bus.errors import BusError
from basis.bus.ids import IdFactory, RandomIds
from basis.bus.logs import LEVELS, log_to_stderr
from basis.bus.transport.nats import NatsTransport
from basis.components.exposure_monitor import ExposureMonitor
from basis.components.pnl_monitor import PnlMonitor
from basis.components.position_monitor import PositionMonitor
from basis.components.pricing import PriceBook, Reference
from basis.configs import ConfigError, RunConfig, load_run_config

log = logging.getLogger("basis.process")

ComponentFactory = Callable[[Bus, Clock, IdFactory], Component]

COMPONENTS: dict[str, ComponentFactory] = {
    "position-monitor": PositionMonitor,
}
"""Components that need no configuration."""

DEFAULT_ENVIRONMENT = "all-simulation"


class UsageError(Exception):
    """The component cannot be built from what the command line gave (exit status 2)."""


@dataclass(frozen=True, slots=True)
class ModeSetup:
    """What a component configured from a strategy mode is built from."""

    run: RunConfig
    references: dict[str, Reference] = field(default_factory=dict)
    perp_marks: dict[str, Reference] = field(default_factory=dict)

    @property
    def share_class(self) -> str:
        return self.run.share_class.name

    def prices(self) -> PriceBook:
        """A fresh price book: every component keeps its own."""
        return PriceBook(references=dict(self.references), perp_marks=dict(self.perp_marks))


def load_mode_setup(mode: str, environment: str = DEFAULT_ENVIRONMENT) -> ModeSetup:
    """Load ``mode`` in ``environment``; price references and perp marks as every run derives them."""
    from basis.backtest.wiring import price_sources

    run = load_run_config(mode, environment)
    references, perp_marks = price_sources(run)
    return ModeSetup(run, references, perp_marks)


ModeFactory = Callable[[ModeSetup], ComponentFactory]


def _exposure_monitor(setup: ModeSetup) -> ComponentFactory:
    def make(bus: Bus, clock: Clock, ids: IdFactory) -> Component:
        return ExposureMonitor(bus, clock, ids, share_class=setup.share_class, prices=setup.prices())

    return make


def _risk_monitor(setup: ModeSetup) -> ComponentFactory:
    from basis.backtest.run import build_risk_monitor

    def make(bus: Bus, clock: Clock, ids: IdFactory) -> Component:
        return build_risk_monitor(setup.run, bus, clock, ids, setup.prices())

    return make


def _pnl_monitor(setup: ModeSetup) -> ComponentFactory:
    def make(bus: Bus, clock: Clock, ids: IdFactory) -> Component:
        return PnlMonitor(bus, clock, ids, share_class=setup.share_class, prices=setup.prices())

    return make


MODE_COMPONENTS: dict[str, ModeFactory] = {
    "exposure-monitor": _exposure_monitor,
    "risk-monitor": _risk_monitor,
    "pnl-monitor": _pnl_monitor,
}
"""Components built from a strategy mode (``--mode``) and an environment (``--env``)."""


def component_names() -> list[str]:
    return sorted({*COMPONENTS, *MODE_COMPONENTS})


def resolve_factory(
    name: str,
    mode: str | None = None,
    environment: str = DEFAULT_ENVIRONMENT,
    *,
    registry: dict[str, ComponentFactory] | None = None,
) -> ComponentFactory:
    """The factory of component ``name``; loads ``mode`` when the component needs one.

    Raises :class:`UsageError` when it needs a mode and has none, or the mode does not load;
    :class:`BusError` when no component has that name.
    """
    factories = COMPONENTS if registry is None else registry
    factory = factories.get(name)
    if factory is not None:
        return factory
    configured = MODE_COMPONENTS.get(name)
    if configured is None:
        known = sorted({*factories, *MODE_COMPONENTS})
        raise BusError(f"unknown component {name!r}; known: {', '.join(known)}")
    if mode is None:
        raise UsageError(f"{name} needs --mode MODE (the strategy mode it is configured from)")
    from basis.backtest.errors import BacktestError

    try:
        return configured(load_mode_setup(mode, environment))
    except (ConfigError, BacktestError) as exc:
        raise UsageError(f"{name} --mode {mode} --env {environment}: {exc}") from exc


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
    mode: str | None = None,
    environment: str = DEFAULT_ENVIRONMENT,
) -> int:
    """Run component ``name`` until it is stopped; returns the process exit status.

    ``stop`` lets an embedding program end the run; ``handle_signals`` installs SIGTERM/SIGINT
    handlers that do the same. ``mode`` and ``environment`` configure the components of
    :data:`MODE_COMPONENTS` (see :func:`resolve_factory`, whose errors this raises before connecting).
    """
    factory = resolve_factory(name, mode, environment, registry=registry)
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
    """``python -m basis.components NAME [--nats URL] [--run-id ID] [--mode M [--env E]]``."""
    prog = "python -m basis.components"
    parser = argparse.ArgumentParser(prog=prog, description="Run one component.")
    parser.add_argument("name", choices=component_names())
    parser.add_argument("--nats", dest="nats_url", default=None, help="NATS URL; embedded server if omitted")
    parser.add_argument("--run-id", default=None, help="run id stamped on every message (default: random)")
    parser.add_argument("--run-dir", type=Path, default=None, help="where an embedded server keeps its store")
    parser.add_argument("--mode", default=None, help="strategy mode (exposure, risk and PnL monitors)")
    parser.add_argument(
        "--env",
        dest="environment",
        default=DEFAULT_ENVIRONMENT,
        help="environment of --mode (default: %(default)s)",
    )
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LEVELS)
    args = parser.parse_args(argv)

    log_to_stderr(args.log_level)
    run_id = args.run_id or RandomIds().next_id()[:12]
    try:
        return asyncio.run(
            run_component(
                args.name,
                args.nats_url,
                run_id,
                run_dir=args.run_dir,
                mode=args.mode,
                environment=args.environment,
            )
        )
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except BusError as exc:
        log.error("%s", exc)
        return 1
