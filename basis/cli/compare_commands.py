"""``basis compare``: several runs' summaries side by side."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
def compare(run_dirs: tuple[Path, ...]) -> None:
    """Print the summary.json of each RUN_DIR (a backtest's output folder) side by side, with the
    difference of each run from the first (docs/summary.md defines the figures)."""
    from basis.backtest.compare import compare as side_by_side

    click.echo(side_by_side(run_dirs), nl=False)


def register(group: click.Group) -> None:
    group.add_command(compare)
