"""Entry point: one group, commands registered from small modules; errors become one line on stderr."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from .. import __version__
from ..bus.logs import log_to_stderr
from .errors import one_line, user_errors


class _Group(click.Group):
    """Turns every expected failure into ``basis: error: <what is wrong>`` and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except user_errors() as exc:
            click.echo(f"basis: error: {one_line(exc)}", err=True)
            sys.exit(2)
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"basis: error: {one_line(RuntimeError(exc.format_message()))}{where}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="basis")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """basis: multi-venue crypto yield and basis strategies on an event-sourced NATS bus."""
    level = logging.WARNING - 10 * min(verbose, 2)
    log_to_stderr(level)


def _register() -> None:
    from . import (
        backtest_commands,
        bus_commands,
        compare_commands,
        config_commands,
        log_commands,
        process_commands,
        sweep_commands,
    )

    modules = (
        bus_commands,
        config_commands,
        log_commands,
        process_commands,
        backtest_commands,
        compare_commands,
        sweep_commands,
    )
    for module in modules:
        module.register(cli)


_register()


def main() -> None:
    cli(prog_name="basis")
