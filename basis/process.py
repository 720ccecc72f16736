"""The composition root of a component process: one component, one NATS connection, one run.

``run_component`` connects (or starts an embedded nats-server when no URL is given), makes sure the
streams exist, builds the named component with the live clock and random ids, starts it, and runs until
the component is told to ``stop`` (``sys.control.<name>``) or the process gets SIGTERM/SIGINT; then it
drains the connection and exits. ``python -m basis.components NAME --nats URL`` runs :func:`main`.

The components of :data:`COMPONENTS` need no configuration (the clock takes its period). Those of
:data:`MODE_COMPONENTS` (the exposure, risk and PnL monitors, the strategy, the router) and the venue
gateways (``sim-<venue>`` for each exchange the mode needs, and ``sim-chain``, the one simulated chain
that hosts every on-chain venue of the mode: :mod:`basis.venues.simulated.chain`) are built from a strategy mode and an
environment (``--mode M --env E``, :func:`load_mode_setup`): the share class, the price references and
perp marks (``price_sources``), the mode's risk limits, its strategy parameters and action map, and
each venue's configuration. A gateway keeps its execution journal in the JetStream key-value bucket
``basis_executed``, so a restarted gateway never executes an instruction twice. A component that names a
history (the monitors, the strategy, the router) is rebuilt from the messages of its run in the streams
before it handles anything new (:mod:`basis.bus.rebuild`), so a restarted one goes on where it stopped.
:func:`describe_components` says what each needs (``basis component list``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basis.bus.bus import Bus
from basis.bus.clock import Clock, LiveClock, SimClock
from basis.bus.component import Component
from basis.bus.embedded import EmbeddedNats
from basis.bus.errors import BusError
from basis.bus.ids import IdFactory, RandomIds
from basis.bus.logs import LEVELS, log_to_stderr
from basis.bus.rebuild import RebuildClock, resume
from basis.bus.transport.jetstream_journal import JetStreamJournal
from basis.bus.transport.nats import NatsTransport
from basis.components.clock import ClockTicker
from basis.components.exposure_monitor import ExposureMonitor
from basis.components.pnl_monitor import PnlMonitor
from basis.components.position_monitor import PositionMonitor
from basis.components.pricing import PriceBook, Reference
from basis.configs import ConfigError, RunConfig, load_run_config, parse_overrides
from basis.venues.gateway import GatewayComponent
from basis.venues.simulated.chain import CHAIN, SimulatedChain

log = logging.getLogger("basis.process")

ComponentFactory = Callable[[Bus, Clock, IdFactory], Component]

COMPONENTS: dict[str, ComponentFactory] = {
    "clock": ClockTicker,
    "position-monitor": PositionMonitor,
}
"""Components that need no configuration."""
FEED = "market-data"
RECORDER = "recorder"
"""The recorder: run by ``basis component run recorder --nats URL --store URL`` (it needs a store, not a mode)."""
"""The feed: in a backtest the replay inside the backtest process; as a process, the paper feed."""
GATEWAY_PREFIX = "sim-"
"""Simulated venue gateways run as ``sim-<venue>``."""

DEFAULT_ENVIRONMENT = "all-simulation"


class UsageError(Exception):
    """The component cannot be built from what the command line gave (exit status 2)."""


@dataclass(frozen=True, slots=True)
class ModeSetup:
    """What a component configured from a strategy mode is built from."""

    run: RunConfig
    references: dict[str, Reference] = field(default_factory=dict)
    perp_marks: dict[str, Reference] = field(default_factory=dict)
    venues: dict[str, ComponentFactory] = field(default_factory=dict)
    """The simulated gateway of each venue the mode needs, by component name (``sim-<venue>``)."""

    @property
    def share_class(self) -> str:
        return self.run.share_class.name

    def prices(self) -> PriceBook:
        """A fresh price book: every component keeps its own."""
        return PriceBook(references=dict(self.references), perp_marks=dict(self.perp_marks))


def load_mode_setup(
    mode: str, environment: str = DEFAULT_ENVIRONMENT, overrides: Mapping[str, Any] | None = None
) -> ModeSetup:
    """Load ``mode`` in ``environment`` (with ``overrides`` of its keys, as ``--set`` gives them); price
    references and perp marks as every run derives them."""
    from basis.backtest.wiring import wire
    from basis.components.feed import discover
    from basis.data import DATA_ROOT

    run = load_run_config(mode, environment, overrides=overrides or None)
    wiring = wire(run, discover([DATA_ROOT]))
    return ModeSetup(run, wiring.references, wiring.perp_marks, dict(wiring.venues))


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


def _strategy(setup: ModeSetup) -> ComponentFactory:
    from basis.backtest.strategies import build_strategy, strategy_params

    params = strategy_params(setup.run)

    def make(bus: Bus, clock: Clock, ids: IdFactory) -> Component:
        return build_strategy(setup.run, params, bus, clock, ids, setup.prices())

    return make


def paper_feed(mode: str, environment: str, speed: float) -> ComponentFactory:
    """The paper feed of ``mode``: its series from the start of its backtest window's warm-up, at
    ``speed`` seconds of data per second, with the mode's initial capital deposited when the window
    opens."""
    from basis.backtest import Backtest, BacktestRequest
    from basis.backtest.run import WARMUP_NS
    from basis.components.paper_feed import PaperFeed

    run = Backtest(BacktestRequest(mode=mode, environment=environment, report=False))
    share = run.config.share_class.name

    def make(bus: Bus, clock: Clock, ids: IdFactory) -> Component:
        return PaperFeed(
            bus,
            clock,
            ids,
            series=run.wiring.series,
            roots=run.roots,
            data_start=run.window[0] - WARMUP_NS,
            speed=speed,
            deposit=(run.capital, share),
            deposit_after_ns=WARMUP_NS,
        )

    return make


def _router(setup: ModeSetup) -> ComponentFactory:
    from basis.backtest.strategies import build_router

    def make(bus: Bus, clock: Clock, ids: IdFactory) -> Component:
        return build_router(setup.run, bus, clock, ids)

    return make


MODE_COMPONENTS: dict[str, ModeFactory] = {
    "exposure-monitor": _exposure_monitor,
    "risk-monitor": _risk_monitor,
    "pnl-monitor": _pnl_monitor,
    "strategy": _strategy,
    "router": _router,
}
"""Components built from a strategy mode (``--mode``) and an environment (``--env``)."""

NEEDS: dict[str, str] = {
    "clock": "nothing (--clock-period: seconds between ticks, default 1)",
    "position-monitor": "nothing",
    "exposure-monitor": "--mode (share class, price references)",
    "risk-monitor": "--mode (risk limits, price references)",
    "pnl-monitor": "--mode (share class, price references)",
    "strategy": "--mode (strategy parameters, price references)",
    "router": "--mode (where each action type goes)",
    "market-data": "--mode (paper: the mode's series replayed on wall time, --speed)",
    f"{GATEWAY_PREFIX}<venue>": "--mode (one per exchange the mode needs; the venue's configuration)",
    CHAIN: "--mode (the wallet and every on-chain venue the mode needs, bundles; their configuration)",
    RECORDER: "--nats URL, --store URL (the event store it appends to)",
}
"""What each component is built from, for ``basis component list``."""


def component_names() -> list[str]:
    return sorted({*COMPONENTS, *MODE_COMPONENTS})


def gateway_names(mode: str, environment: str = DEFAULT_ENVIRONMENT) -> list[str]:
    """The gateway components of ``mode`` (``sim-binance``, ..., ``sim-chain``)."""
    return sorted(load_mode_setup(mode, environment).venues)


def system_components(mode: str, environment: str = DEFAULT_ENVIRONMENT) -> list[str]:
    """Every component a running system of ``mode`` has, in the order they depend on each other: the
    clock, the venue gateways, the monitors, the router, the strategy."""
    return [
        "clock",
        *gateway_names(mode, environment),
        "position-monitor",
        "exposure-monitor",
        "risk-monitor",
        "pnl-monitor",
        "router",
        "strategy",
    ]


def describe_components() -> list[tuple[str, str]]:
    """``(name, what it needs)`` of every component, in a stable order."""
    return list(NEEDS.items())


@contextlib.contextmanager
def mode_errors(what: str) -> Iterator[None]:
    """A mode that does not load (its configuration, its data) as a :class:`UsageError` about ``what``."""
    from basis.backtest.errors import BacktestError

    try:
        yield
    except (ConfigError, BacktestError) as exc:
        raise UsageError(f"{what}: {exc}") from exc


def resolve_factory(
    name: str,
    mode: str | None = None,
    environment: str = DEFAULT_ENVIRONMENT,
    *,
    registry: dict[str, ComponentFactory] | None = None,
    overrides: Mapping[str, Any] | None = None,
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
    gateway = name.startswith(GATEWAY_PREFIX)
    if configured is None and not gateway:
        known = sorted({*factories, *MODE_COMPONENTS, f"{GATEWAY_PREFIX}<venue>"})
        raise BusError(f"unknown component {name!r}; known: {', '.join(known)}")
    if mode is None:
        raise UsageError(f"{name} needs --mode MODE (the strategy mode it is configured from)")
    with mode_errors(f"{name} --mode {mode} --env {environment}"):
        setup = load_mode_setup(mode, environment, overrides)
        if configured is not None:
            return configured(setup)
    venue = setup.venues.get(name)
    if venue is None:
        raise UsageError(
            f"{name}: mode {mode} has no such venue; its gateways: {', '.join(sorted(setup.venues))}"
        )
    return venue


def component_command(
    name: str, nats_url: str, *, mode: str, environment: str, options: Sequence[str] = ()
) -> list[str]:
    """The command line that runs component ``name`` of ``mode`` as its own process (:func:`main`)."""
    return [
        sys.executable,
        "-m",
        "basis.components",
        name,
        "--nats",
        nats_url,
        "--mode",
        mode,
        "--env",
        environment,
        *options,
    ]


def gateways_of(component: Component) -> list[GatewayComponent]:
    """The venue gateways ``component`` is or hosts (the simulated chain hosts several)."""
    if isinstance(component, SimulatedChain):
        return list(component.gateways)
    return [component] if isinstance(component, GatewayComponent) else []


def recorder_command(nats_url: str, store_url: str) -> list[str]:
    """The command line that runs the recorder as its own process."""
    cli = "from basis.cli import main; main()"
    return [sys.executable, "-c", cli, "component", "run", RECORDER, "--nats", nats_url, "--store", store_url]


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
    clock_period_s: float = 1.0,
    speed: float = 3600.0,
) -> int:
    """Run component ``name`` until it is stopped; returns the process exit status.

    ``stop`` lets an embedding program end the run; ``handle_signals`` installs SIGTERM/SIGINT
    handlers that do the same. ``mode`` and ``environment`` configure the components of
    :data:`MODE_COMPONENTS` (see :func:`resolve_factory`, whose errors this raises before connecting).
    """
    if name == FEED:
        if mode is None:
            raise UsageError(f"{name} needs --mode MODE (whose series it replays)")
        with mode_errors(f"{name} --mode {mode}"):
            factory = paper_feed(mode, environment, speed)
    else:
        factory = resolve_factory(name, mode, environment, registry=registry)
        if factory is ClockTicker:
            factory = functools.partial(ClockTicker, period_s=clock_period_s)
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
        clock = RebuildClock(LiveClock())
        component = factory(bus, clock, RandomIds())
        gateways = gateways_of(component)
        if gateways:
            journal = await JetStreamJournal.open(transport.js)
            for gateway in gateways:
                gateway.journal = journal
        await resume(component, transport, clock)
        log.info("%s running on %s (run %s)", name, nats_url, run_id)

        stopped = asyncio.ensure_future(component.stopped.wait())
        signalled = asyncio.ensure_future(stop.wait())
        await asyncio.wait((stopped, signalled), return_when=asyncio.FIRST_COMPLETED)
        for waiter in (stopped, signalled):
            waiter.cancel()
        await component.close()
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


LOCKSTEP_RECONNECT: dict[str, Any] = {
    "max_reconnect_attempts": 300,
    "reconnect_time_wait": 0.2,
    "dont_randomize": True,
}
"""A lockstep connection retries for about a minute: a server restarted or a cluster node lost mid-run is
waited for, and the frames in flight are sent again (:mod:`basis.bus.transport.lockstep`). Every process
of a run tries the servers in the order given, so they all start on the first one."""


async def run_lockstep_component(
    name: str,
    nats_url: str,
    run: str,
    *,
    mode: str | None,
    environment: str = DEFAULT_ENVIRONMENT,
    overrides: Mapping[str, Any] | None = None,
    clock_start_ns: int = 0,
) -> int:
    """Run component ``name`` in the lockstep run ``run`` (:mod:`basis.bus.transport.lockstep`): its
    deliveries come from the run's conductor, its clock is the simulation clock of each delivery and its
    ids are the sequential ids of an in-process run, so it publishes exactly what it would in one process.
    Returns when the conductor ends the run."""
    import nats

    from basis.bus.ids import SequentialIds
    from basis.bus.transport.lockstep import LockstepClient

    factory = resolve_factory(name, mode, environment, overrides=overrides)
    try:
        nc = await nats.connect(
            [u.strip() for u in nats_url.split(",") if u.strip()],
            name=f"basis-{name}-lockstep",
            **LOCKSTEP_RECONNECT,
        )
    except (TimeoutError, OSError) as exc:
        raise BusError(f"cannot connect to NATS at {nats_url}: {exc!r}") from exc
    clock = SimClock(clock_start_ns)
    client = LockstepClient(nc, run, name, clock)
    try:
        await client.start()
        component = factory(Bus(client, component=name), clock, SequentialIds("", name))
        # subscriptions register in the order of the in-process run: wait for the turn (or the end)
        turn = asyncio.ensure_future(client.turn.wait())
        stopped = asyncio.ensure_future(client.stopped.wait())
        await asyncio.wait((turn, stopped), return_when=asyncio.FIRST_COMPLETED)
        turn.cancel()
        if not client.stopped.is_set():
            await component.start()
            await client.ready()
        await stopped
        await component.close()
        return 0
    finally:
        await client.close()
        await nc.drain()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m basis.components NAME [--nats URL] [--run-id ID] [--mode M [--env E]]``."""
    prog = "python -m basis.components"
    parser = argparse.ArgumentParser(prog=prog, description="Run one component.")
    parser.add_argument("name", help=f"one of {', '.join(component_names())}, or {GATEWAY_PREFIX}<venue>")
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
    parser.add_argument("--clock-period", type=float, default=1.0, help="seconds between clock ticks")
    parser.add_argument("--speed", type=float, default=3600.0, help="paper feed: data seconds per second")
    parser.add_argument("--lockstep", default=None, help="join this lockstep run (a backtest over processes)")
    parser.add_argument("--clock-start", type=int, default=0, help="lockstep: simulation time at start (ns)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="KEY=VALUE override of a mode key (JSON value)",
    )
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LEVELS)
    args = parser.parse_args(argv)

    log_to_stderr(args.log_level)
    run_id = args.run_id or RandomIds().next_id()[:12]
    try:
        if args.lockstep is not None:
            if args.nats_url is None:
                raise UsageError("--lockstep needs --nats URL (the server of the run's conductor)")
            return asyncio.run(
                run_lockstep_component(
                    args.name,
                    args.nats_url,
                    args.lockstep,
                    mode=args.mode,
                    environment=args.environment,
                    overrides=parse_overrides(args.overrides),
                    clock_start_ns=args.clock_start,
                )
            )
        return asyncio.run(
            run_component(
                args.name,
                args.nats_url,
                run_id,
                run_dir=args.run_dir,
                mode=args.mode,
                environment=args.environment,
                clock_period_s=args.clock_period,
                speed=args.speed,
            )
        )
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except BusError as exc:
        log.error("%s", exc)
        return 1
