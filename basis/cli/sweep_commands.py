"""``basis sweep``: a grid of backtests of one mode in parallel processes, and the table of their figures."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .backtest_commands import interval_option, utc_option


@click.command()
@click.option("--mode", required=True, help="Strategy mode, e.g. btc_basis.")
@click.option(
    "--grid",
    "grid",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="A mode key (as --set takes it) and its values; the sweep runs every combination of the grids "
    "(repeatable). Commas inside [...], {...} or quotes belong to a value.",
)
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a mode key in every run."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Runs side by side, each in its own process (default: the combinations, at most the CPUs).",
)
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Another data root in the bundled layout (repeatable; a later root extends an earlier one).",
)
@click.option("--no-bundled-data", "no_bundled", is_flag=True, help="Replay only the --data roots.")
@click.option(
    "--start", callback=utc_option, help="Window start, UTC (default: where all the mode's series exist)."
)
@click.option("--end", callback=utc_option, help="Window end, UTC, exclusive.")
@click.option("--capital", type=float, default=None, help="Initial capital in the share class.")
@click.option(
    "--flows", type=click.Path(path_type=Path), default=None, help="CSV of investor flows: timestamp,amount."
)
@click.option("--env", "environment", default="all-simulation", show_default=True, help="Environment config.")
@click.option(
    "--checkpoint-interval",
    "interval_ns",
    default="1d",
    show_default=True,
    metavar="INTERVAL",
    callback=interval_option,
    help="How often each run's log keeps the monitors' views (as basis backtest takes it).",
)
@click.option("--no-report", is_flag=True, help="Skip each run's report.html.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sweep"),
    show_default=True,
    help="Folder for sweep.csv, sweep.html and one folder per combination (its summary, report and store).",
)
def sweep(
    mode: str,
    grid: tuple[str, ...],
    overrides: tuple[str, ...],
    workers: int | None,
    data: tuple[Path, ...],
    no_bundled: bool,
    start: int | None,
    end: int | None,
    capital: float | None,
    flows: Path | None,
    environment: str,
    interval_ns: int,
    no_report: bool,
    out: Path,
) -> None:
    """Backtest MODE once per combination of the --grid values, in parallel processes; one line per
    finished run, then OUT/sweep.csv and OUT/sweep.html with each combination's figures (a failed one with
    its error). Exit status 1 when any combination failed."""
    from basis.backtest import BacktestRequest
    from basis.backtest.sweep import (
        Outcome,
        check,
        combinations,
        default_workers,
        describe,
        parse_grid,
        run_sweep,
        write_table,
    )
    from basis.configs import parse_overrides

    fixed = parse_overrides(overrides)
    axes = parse_grid(grid, fixed)
    base = BacktestRequest(
        mode=mode,
        environment=environment,
        data=data,
        bundled_data=not no_bundled,
        start=start,
        end=end,
        capital=capital,
        flows=flows,
        out=out,
        overrides=fixed,
        report=not no_report,
        checkpoint_interval_ns=interval_ns,
    )
    combos = combinations(axes, base)
    check(combos)  # every combination as a backtest, before anything runs
    count = workers if workers is not None else default_workers(len(combos))
    click.echo(f"sweep {mode}: {len(combos)} combinations on {count} workers -> {out}", err=True)
    wall = time.perf_counter()

    def progress(outcome: Outcome, done: int) -> None:
        click.echo(f"[{done}/{len(combos)}] {describe(outcome)}", err=True)

    outcomes = run_sweep(combos, count, progress)
    wall = time.perf_counter() - wall
    failed = [o for o in outcomes if o.error is not None]
    window = next((f"window: {o.summary['start']} .. {o.summary['end']}" for o in outcomes if o.summary), "")
    facts = [
        *([window] if window else []),
        f"grid: {'  '.join(grid)}",
        *([f"set: {'  '.join(overrides)}"] if overrides else []),
        f"{len(combos)} combinations on {count} workers in {wall:.1f}s; {len(failed)} failed",
    ]
    csv_path, html_path = write_table(out, mode, facts, axes, outcomes)
    click.echo(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} combinations completed, {len(failed)} failed "
        f"({wall:.1f}s); wrote {csv_path}, {html_path}"
    )
    if failed:
        sys.exit(1)


def register(group: click.Group) -> None:
    group.add_command(sweep)
