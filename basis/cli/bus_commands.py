"""``basis subjects``, ``basis schema``, ``basis nats``, ``basis nats-config``."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
def subjects() -> None:
    """Print the subject hierarchy with the message type of each subject."""
    from basis.bus import subjects as s

    width = max(len(pattern) for pattern, _ in s.HIERARCHY)
    for pattern, type_name in s.HIERARCHY:
        stream = s.stream_of(pattern)
        where = stream.name if stream else "plain"
        click.echo(f"{pattern:<{width}}  {type_name:<22} {where}")


@click.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
def schema(out: Path | None) -> None:
    """Write the JSON Schema of every message type (stdout by default)."""
    from basis.bus.codec import json_schemas

    text = json.dumps(json_schemas(), indent=2, sort_keys=True)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@click.command()
@click.option(
    "--port", type=click.IntRange(0, 65535), default=4222, show_default=True, help="0 = a free port."
)
@click.option(
    "--store-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/nats"),
    show_default=True,
    help="JetStream storage directory.",
)
def nats(port: int, store_dir: Path) -> None:
    """Run the bundled nats-server (JetStream on) in the foreground for other tools."""
    from basis.bus.embedded import serve_forever

    raise SystemExit(serve_forever(port=port, store_dir=store_dir))


@click.command("nats-config")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the configuration to this file (mode 0600: it holds passwords).",
)
@click.option(
    "--venue",
    "venues",
    multiple=True,
    metavar="VENUE",
    help="A venue to run a gateway for (repeat; default: binance, bybit, okx, aave_v3, wallet, lido, "
    "etherfi, uniswap, instadapp).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=4222, show_default=True)
@click.option("--host", default=None, help="Listen on this address only (default: every interface).")
@click.option(
    "--store-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/nats"),
    show_default=True,
    help="JetStream storage directory (relative to where nats-server runs).",
)
def nats_config(out: Path, venues: tuple[str, ...], port: int, host: str | None, store_dir: Path) -> None:
    """Write a nats-server configuration with one user per component, each allowed to publish only its
    own subjects, and a read-only user 'reader'.

    Each password comes from $BASIS_NATS_PASSWORD_<USER> (upper case, '-' as '_'), or is generated;
    passwords are written to the file only, never printed.
    """
    import os

    from basis.bus import permissions as p
    from basis.bus.errors import BusError

    try:
        users = p.all_permissions(venues or p.DEFAULT_VENUES)
    except BusError as exc:
        raise click.BadParameter(str(exc), param_hint="'--venue'") from exc
    names = [user.user for user in users]
    chosen = p.passwords(names)
    p.write_config(out, p.render_config(users, chosen, port=port, host=host, store_dir=store_dir))
    from_env = [name for name in names if os.environ.get(p.password_env(name))]
    click.echo(f"wrote {out} (mode 0600) with users: {', '.join(names)}", err=True)
    click.echo(
        f"passwords from ${p.PASSWORD_ENV_PREFIX}<USER>: {', '.join(from_env) or 'none'}; "
        f"generated for the others (read them in {out})",
        err=True,
    )


def register(group: click.Group) -> None:
    for command in (subjects, schema, nats, nats_config):
        group.add_command(command)
