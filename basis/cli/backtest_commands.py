"""``basis backtest`` and ``basis replay``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

from .log_commands import store_option


def utc_option(_ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    from basis.components.feed import parse_utc

    text = value if "T" in value else f"{value}T00:00:00Z"
    try:
        return parse_utc(text, naive_is_utc=True)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)") from None


def interval_option(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    """``--checkpoint-interval`` (``1d``, ``6h``, ``30m``, ``0``) -> ns, a bad value named."""
    from basis.bus.store.rule import parse_interval

    try:
        return parse_interval(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--checkpoint-interval") from None


@click.command()
@click.option("--mode", required=True, help="Strategy mode, e.g. pure_lending_usdt, btc_basis, eth_basis.")
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Another data root in the bundled layout (repeatable; a later root extends an earlier one).",
)
@click.option(
    "--no-bundled-data",
    "no_bundled",
    is_flag=True,
    help="Replay only the --data roots, not the bundled dataset (e.g. a synthetic benchmark root).",
)
@click.option(
    "--start", callback=utc_option, help="Window start, UTC (default: where all the mode's series exist)."
)
@click.option("--end", callback=utc_option, help="Window end, UTC, exclusive.")
@click.option(
    "--capital", type=float, default=None, help="Initial capital in the share class (default: the mode's)."
)
@click.option(
    "--flows",
    type=click.Path(path_type=Path),
    default=None,
    help="CSV of investor flows: timestamp,amount (amount < 0 is a withdrawal).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Folder for summary.json, report.html and the event store.",
)
@click.option("--store", default=None, help="Event store URL (default: sqlite:///OUT/events.sqlite).")
@click.option("--env", "environment", default="all-simulation", show_default=True, help="Environment config.")
@click.option("--run-id", default=None, help="Run id in the store (default: derived from the inputs).")
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a mode key (repeatable)."
)
@click.option("--no-report", is_flag=True, help="Skip report.html.")
@click.option(
    "--processes",
    is_flag=True,
    help="Run every component in its own process, in lockstep over NATS (the same log as in one process).",
)
@click.option(
    "--nats", "nats_url", default=None, help="With --processes: NATS URL (default: an embedded nats-server)."
)
@click.option(
    "--checkpoint-interval",
    "interval_ns",
    default="1d",
    show_default=True,
    metavar="INTERVAL",
    callback=interval_option,
    help="How often the log keeps the monitors' views (first after each multiple of INTERVAL since the "
    "epoch: 1d is daily at 00:00 UTC; 6h, 30m, 0 = every view). Facts are always kept; views are also "
    "kept at a risk-level change and at the end of the run.",
)
@click.option(
    "--stress",
    default=None,
    metavar="NAME@DATE",
    help="Replay the bundled data shocked by a stress scenario from DATE: eth_crash, eth_spike, lst_depeg, "
    "funding_negative (docs/stress.md).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def backtest(
    mode: str,
    data: tuple[Path, ...],
    no_bundled: bool,
    start: int | None,
    end: int | None,
    capital: float | None,
    flows: Path | None,
    out: Path,
    store: str | None,
    environment: str,
    run_id: str | None,
    overrides: tuple[str, ...],
    no_report: bool,
    processes: bool,
    nats_url: str | None,
    interval_ns: int,
    stress: str | None,
    quiet: bool,
) -> None:
    """Backtest MODE on historical data; writes summary.json, report.html and the run's event log."""
    from basis.backtest import Backtest, BacktestRequest
    from basis.configs import parse_overrides

    if nats_url is not None and not processes:
        raise click.UsageError("--nats is for --processes (an in-process backtest uses no server)")

    request = BacktestRequest(
        mode=mode,
        environment=environment,
        data=data,
        bundled_data=not no_bundled,
        start=start,
        end=end,
        capital=capital,
        flows=flows,
        out=out,
        store=store,
        run_id=run_id,
        overrides=parse_overrides(overrides),
        report=not no_report,
        processes=processes,
        nats=nats_url,
        checkpoint_interval_ns=interval_ns,
        stress=stress,
    )
    run = Backtest(request)  # every input is checked here, before anything runs
    show = not quiet and sys.stderr.isatty()
    if show:
        with click.progressbar(
            length=1000, label=f"{run.config.mode.name} {run.run_id}", file=sys.stderr
        ) as bar:
            done = [0]

            def progress(fraction: float) -> None:
                step = int(fraction * 1000) - done[0]
                if step > 0:
                    bar.update(step)
                    done[0] += step

            run.request = dataclasses.replace(request, progress=progress)
            summary = asyncio.run(run.run())
    else:
        summary = asyncio.run(run.run())
    print_summary(summary, out)


def print_summary(summary: dict[str, Any], out: Path) -> None:
    share = summary["share_class"]
    click.echo(f"{summary['mode']}  {summary['start']} .. {summary['end']}  run {summary['run_id']}")
    click.echo(
        f"  equity  {summary['initial_equity']:,.6f} -> {summary['final_equity']:,.6f} {share}"
        f"   pnl {summary['pnl']:,.6f}   apy {summary['apy']:.4%}   max dd {summary['max_drawdown']:.4%}"
        f"   sharpe {summary['sharpe']:.2f}"
    )
    parts = "  ".join(f"{k} {v:,.4f}" for k, v in summary["attribution"].items() if v)
    click.echo(f"  attribution ({share}): {parts}")
    click.echo(
        f"  events {summary['events']:,}  digest {summary['log_digest'][:16]}  {summary['wall_seconds']:.1f}s"
    )
    click.echo(
        f"  wrote {out / 'summary.json'}"
        + (f", {out / 'report.html'}" if (out / "report.html").exists() else "")
    )


@click.command()
@click.argument("run_id")
@store_option
@click.option("--share-class", default=None, help="Share class of the run (default: read from the log).")
def replay(run_id: str, store: str, share_class: str | None) -> None:
    """Rebuild RUN_ID from the facts in the event store alone: recompute every view (positions, exposure,
    risk, PnL) at every valuation, check each checkpoint the log kept against them exactly, and the final
    positions, equity and attribution against the last ones."""
    from basis.backtest.replay import replay_and_verify

    result = replay_and_verify(run_id, store, share_class)
    click.echo(json.dumps(result["rebuilt"], indent=2))
    if result["differences"]:
        for line in result["differences"]:
            click.echo(f"MISMATCH {line}", err=True)
        raise SystemExit(1)
    risk = "" if result["risk_checked"] else " (risk assessments not checked: the log has no risk rules)"
    click.echo(
        f"verified: {result['checkpoints']:,} checkpoints equal the views recomputed from the facts at "
        f"{result['valuations']:,} valuations, and the final positions, equity and attribution the last "
        f"ones ({result['messages']:,} messages){risk}",
        err=True,
    )


def register(group: click.Group) -> None:
    group.add_command(backtest)
    group.add_command(replay)
