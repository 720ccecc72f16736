"""``basis component run NAME``: one component as its own process on NATS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import click

from .backtest_commands import utc_option


def mode_components(
    load: Callable[[str, str], list[str]], mode: str, environment: str, *, what: str = ""
) -> list[str]:
    """``load(mode, environment)``, a mode that does not load being a usage error that says why
    (prefixed ``what``, by default the options that named it)."""
    from basis.process import UsageError, mode_errors

    try:
        with mode_errors(what or f"--mode {mode} --env {environment}"):
            return load(mode, environment)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None


@click.group()
def component() -> None:
    """Run platform components as separate processes."""


@component.command("list")
@click.option("--mode", default=None, help="Also list the gateways of this strategy mode.")
@click.option(
    "--env", "environment", default="all-simulation", show_default=True, help="Environment of --mode."
)
def list_components(mode: str | None, environment: str) -> None:
    """List the components that can run as processes, and what each needs."""
    from basis.process import describe_components, gateway_names

    rows = describe_components()
    width = max(len(name) for name, _ in rows)
    for name, needs in rows:
        click.echo(f"{name:<{width}}  {needs}")
    if mode is not None:
        gateways = mode_components(gateway_names, mode, environment)
        click.echo(f"\ngateways of {mode}: {', '.join(gateways)}")


@component.command()
@click.argument("name")
@click.option(
    "--nats",
    "nats_url",
    envvar="BASIS_NATS_URL",
    default=None,
    help="NATS URL (env BASIS_NATS_URL); an embedded nats-server is started when omitted.",
)
@click.option("--run-id", default=None, help="Run id stamped on every message (default: random).")
@click.option("--store", envvar="BASIS_STORE_URL", default=None, help="Event store URL (recorder only).")
@click.option("--mode", default=None, help="Strategy mode (exposure, risk and PnL monitors need one).")
@click.option(
    "--env", "environment", default="all-simulation", show_default=True, help="Environment of --mode."
)
@click.option(
    "--clock-period",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="Seconds between ticks (clock only).",
)
def run(
    name: str,
    nats_url: str | None,
    run_id: str | None,
    store: str | None,
    mode: str | None,
    environment: str,
    clock_period: float,
) -> None:
    """Run component NAME until it is told to stop (sys.control.NAME) or gets SIGTERM/SIGINT."""
    if name == "recorder":
        from basis.bus.store import DEFAULT_STORE_URL
        from basis.components.recorder import run_recorder

        if nats_url is None:
            raise click.UsageError("the recorder needs --nats URL (the server whose streams it records)")
        raise SystemExit(asyncio.run(run_recorder(nats_url, store or DEFAULT_STORE_URL)))
    from basis.process import UsageError, run_component

    try:
        status = asyncio.run(
            run_component(
                name,
                nats_url,
                run_id or uuid.uuid4().hex,
                mode=mode,
                environment=environment,
                clock_period_s=clock_period,
            )
        )
    except UsageError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    raise SystemExit(status)


@click.command()
@click.option("--mode", default=None, help="Check every component a system of this mode runs.")
@click.option(
    "--env", "environment", default="all-simulation", show_default=True, help="Environment of --mode."
)
@click.option(
    "--component", "names", multiple=True, metavar="NAME", help="Check this component (repeatable)."
)
@click.option(
    "--nats",
    "nats_url",
    envvar="BASIS_NATS_URL",
    default="nats://127.0.0.1:4222",
    show_default=True,
    help="NATS URL of the running system (env BASIS_NATS_URL).",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=2.0, show_default=True, help="Seconds to wait."
)
def status(mode: str | None, environment: str, names: tuple[str, ...], nats_url: str, timeout: float) -> None:
    """Ping the components of a running system and print each one's heartbeat; exit status 1 when one
    does not answer within --timeout.

    On a server with users (basis up --auth) it logs in as $BASIS_NATS_USER (operator) with
    $BASIS_NATS_PASSWORD.
    """
    from basis.bus.errors import BusError
    from basis.health import check_health
    from basis.process import system_components

    components = list(names)
    if mode is not None:
        components = [*mode_components(system_components, mode, environment), *components]
    if not components:
        raise click.UsageError("name the components to check: --mode MODE, or --component NAME")
    try:
        health = asyncio.run(check_health(nats_url, components, timeout=timeout))
    except BusError as exc:
        click.echo(f"basis: error: {exc}", err=True)
        raise SystemExit(1) from None
    width = max(len(h.component) for h in health)
    for h in health:
        if h.heartbeat is None:
            click.echo(f"{h.component:<{width}}  no answer within {timeout:g}s")
        else:
            beat = h.heartbeat
            click.echo(
                f"{h.component:<{width}}  healthy  {h.latency_ms:6.1f} ms  processed {beat.processed:,}  "
                f"dead-lettered {beat.dead_lettered:,}"
            )
    down = [h.component for h in health if not h.healthy]
    if down:
        click.echo(f"{len(down)} of {len(health)} not answering: {', '.join(down)}", err=True)
        raise SystemExit(1)


@click.command()
@click.option("--mode", required=True, help="Strategy mode.")
@click.option(
    "--env",
    "run_env",
    type=click.Choice(["paper", "simulation"]),
    default="paper",
    show_default=True,
    help="paper: simulated venues, the wall clock, the mode's series replayed on wall time. "
    "simulation: simulated venues on historical time, every component in lockstep (as "
    "basis backtest --processes), until the data end.",
)
@click.option(
    "--nats", "nats_url", envvar="BASIS_NATS_URL", default=None, help="NATS URL (default: embedded)."
)
@click.option(
    "--store",
    envvar="BASIS_STORE_URL",
    default=None,
    help="Event store URL: paper runs the recorder on it; simulation writes the run's log there "
    "(default: sqlite in --run-dir).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.001),
    default=3600.0,
    show_default=True,
    help="paper: seconds of data replayed per second of wall time.",
)
@click.option(
    "--clock-period",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="paper: seconds between clock ticks.",
)
@click.option(
    "--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Logs (and NATS store)."
)
@click.option("--run-id", default=None, help="Run id stamped on every message (default: random).")
@click.option(
    "--start", callback=utc_option, help="simulation: window start, UTC (default: the mode's data window)."
)
@click.option("--end", callback=utc_option, help="simulation: window end, UTC, exclusive.")
@click.option(
    "--auth",
    is_flag=True,
    help="paper: one NATS user per component, each allowed to publish only its own subjects. The "
    "embedded nats-server gets their configuration (RUN_DIR/nats.conf, mode 0600); with --nats, the "
    "server's (basis nats-config) and each password from $BASIS_NATS_PASSWORD_<USER>. Each process "
    "gets its login in its environment; basis status/tail log in with $BASIS_NATS_USER and "
    "$BASIS_NATS_PASSWORD (users operator and reader).",
)
def up(
    mode: str,
    run_env: str,
    nats_url: str | None,
    store: str | None,
    speed: float,
    clock_period: float,
    run_dir: Path | None,
    run_id: str | None,
    start: int | None,
    end: int | None,
    auth: bool,
) -> None:
    """Start every component of MODE as its own process under a supervisor (restart with back-off);
    Ctrl-C stops them in dependency order. `basis status --mode MODE` shows their health."""
    from basis.bus.errors import BusError
    from basis.process import FEED, RECORDER, default_run_dir, system_components
    from basis.up import Logins, Supervisor, chain_venues

    environment = "all-simulation"
    names = mode_components(system_components, mode, environment, what=f"--mode {mode}")
    if run_env == "simulation":  # the run id derives from the inputs, as a backtest's does
        if auth:
            raise click.UsageError("--auth is for --env paper")
        _simulate(mode, environment, nats_url, store, run_dir, run_id, (start, end))
        return
    run_id = run_id or uuid.uuid4().hex[:12]
    run_dir = run_dir or default_run_dir(run_id)
    if start is not None or end is not None:
        raise click.UsageError("--start and --end are for --env simulation (paper runs on wall time)")
    if store is not None:
        names = [RECORDER, *names]  # first: it follows the streams from their start anyway
    logins: Logins | None = None
    if auth:
        chain = mode_components(chain_venues, mode, environment, what=f"--mode {mode}")
        try:
            logins = Logins.of_system([*names, FEED], chain, generate=nats_url is None)
        except BusError as exc:
            raise click.UsageError(f"--auth: {exc}") from None
    supervisor = Supervisor(
        mode,
        names,
        environment=environment,
        nats_url=nats_url,
        run_dir=run_dir,
        run_id=run_id,
        speed=speed,
        clock_period=clock_period,
        store=store,
        logins=logins,
    )
    raise SystemExit(asyncio.run(supervisor.run()))


def _simulate(
    mode: str,
    environment: str,
    nats_url: str | None,
    store: str | None,
    run_dir: Path | None,
    run_id: str | None,
    window: tuple[int | None, int | None],
) -> None:
    """``up --env simulation``: the mode over its whole data window, every component its own process in
    lockstep (the supervisor of ``basis backtest --processes`` restarts one that dies), the result in
    ``run_dir/out`` (default: ``out``)."""
    from basis.backtest import Backtest, BacktestRequest
    from basis.backtest.errors import BacktestError

    from .backtest_commands import print_summary

    out = run_dir / "out" if run_dir is not None else Path("out")
    request = BacktestRequest(
        mode=mode,
        environment=environment,
        start=window[0],
        end=window[1],
        out=out,
        store=store,
        run_id=run_id,
        processes=True,
        nats=nats_url,
    )
    try:
        run = Backtest(request)
    except BacktestError as exc:
        raise click.UsageError(f"--mode {mode}: {exc}") from None
    print_summary(asyncio.run(run.run()), out)


def register(group: click.Group) -> None:
    group.add_command(component)
    group.add_command(status)
    group.add_command(up)
