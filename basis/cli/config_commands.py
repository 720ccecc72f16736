"""``basis config show`` and ``basis config validate``."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def config() -> None:
    """Strategy-mode, venue, share-class and environment configuration."""


@config.command()
@click.option("--mode", "mode", required=True, help="Strategy mode (or an alias).")
@click.option("--env", "env", default="all-simulation", show_default=True, help="Environment name.")
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a mode key (repeatable)."
)
@click.option(
    "--root", type=click.Path(file_okay=False, exists=True, path_type=Path), help="Another configs folder."
)
def show(mode: str, env: str, overrides: tuple[str, ...], root: Path | None) -> None:
    """Print the resolved configuration of MODE in ENV; secrets are masked."""
    from basis.configs import parse_overrides, show_config

    click.echo(show_config(mode, env, root=root, overrides=parse_overrides(overrides) or None), nl=False)


@config.command()
@click.option(
    "--root", type=click.Path(file_okay=False, exists=True, path_type=Path), help="Another configs folder."
)
def validate(root: Path | None) -> None:
    """Check every file under configs/ alone and against the others."""
    from basis.configs import list_environments, list_modes, list_share_classes, list_venues, validate_all

    problems = validate_all(root)
    for file, error in problems:
        for line in str(error).splitlines() or [str(error)]:
            click.echo(f"{line}" if line.startswith(file) else f"{file}: {line}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo(
        f"configs valid: {len(list_modes(root))} modes, {len(list_venues(root))} venues, "
        f"{len(list_share_classes(root))} share classes, {len(list_environments(root))} environments"
    )


def register(group: click.Group) -> None:
    group.add_command(config)
