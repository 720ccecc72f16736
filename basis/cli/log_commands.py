"""``basis log digest|dump|runs``: read the event store."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from basis.bus.store import EventStore

BACKTEST_STORE_URL = "sqlite:///out/events.sqlite"
"""Where ``basis backtest`` writes by default (``--out out``)."""
STORE_HELP = (
    "Event store URL: sqlite:///FILE, postgresql://... (env BASIS_STORE_URL; default "
    f"{BACKTEST_STORE_URL}, the default backtest's)."
)


store_option = click.option("--store", envvar="BASIS_STORE_URL", default=BACKTEST_STORE_URL, help=STORE_HELP)
"""The ``--store`` option of every command that reads the event log."""


@click.group()
def log() -> None:
    """The event log: every message of every run, in order."""


@log.command()
@click.argument("run_id")
@store_option
def digest(run_id: str, store: str) -> None:
    """Print the sha256 digest of RUN_ID's log (identical for identical runs, on any backend)."""
    from basis.bus.store import digest as log_digest
    from basis.bus.store import open_existing_store

    with open_existing_store(store) as events:
        _require_run(events, run_id, store)
        click.echo(log_digest(events, run_id))


@log.command()
@click.argument("run_id")
@click.option("--subject", default=None, help="NATS subject pattern, e.g. 'evt.*.filled' or 'md.>'.")
@store_option
def dump(run_id: str, subject: str | None, store: str) -> None:
    """Print RUN_ID's messages as JSON lines: {"position", "subject", "message"}."""
    from basis.bus.store import open_existing_store
    from basis.bus.subjects import validate_pattern

    if subject is not None:
        validate_pattern(subject)
    out = sys.stdout.buffer
    with open_existing_store(store) as events:
        _require_run(events, run_id, store)
        for record in events.read(run_id=run_id, subject=subject):
            out.write(
                b'{"position":%d,"subject":"%s","message":' % (record.position, record.subject.encode())
            )
            out.write(record.data)
            out.write(b"}\n")
    out.flush()


@log.command()
@store_option
def runs(store: str) -> None:
    """List the runs in the store with their message counts."""
    from basis.bus.store import open_existing_store

    with open_existing_store(store) as events:
        for info in events.runs():
            click.echo("\t".join(str(v) for v in info))


def _require_run(events: EventStore, run_id: str, store: str) -> None:
    from basis.bus.errors import StoreError

    if events.run_info(run_id) is None:
        raise StoreError(f"no run {run_id!r} in {store}")


def register(group: click.Group) -> None:
    group.add_command(log)
