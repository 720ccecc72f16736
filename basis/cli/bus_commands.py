"""``basis subjects``, ``basis schema``, ``basis nats``."""

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


def register(group: click.Group) -> None:
    for command in (subjects, schema, nats):
        group.add_command(command)
