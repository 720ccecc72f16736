"""A run's resolved configuration as plain data or YAML, with every secret shown as ``***``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .run import ResolvedVenue, RunConfig, load_run_config
from .yaml_io import dump_yaml


def to_masked_dict(run: RunConfig) -> dict[str, Any]:
    """Everything a run uses, as JSON-compatible data; secrets are ``***``."""
    mode = run.mode
    return {
        "mode": {
            **mode.model_dump(mode="json"),
            "required_venues": list(mode.required_venues()),
            "action_venues": mode.action_venues(),
        },
        "share_class": run.share_class.model_dump(mode="json"),
        "market_neutral": run.market_neutral,
        "environment": {
            "name": run.environment.name,
            "description": run.environment.description,
            "venues": {name: venue.environment for name, venue in run.venues.items()},
        },
        "venues": {name: _venue_dict(venue) for name, venue in run.venues.items()},
    }


def to_masked_yaml(run: RunConfig) -> str:
    return dump_yaml(to_masked_dict(run))


def show_config(
    mode: str,
    env: str,
    *,
    root: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """``basis config show``: the resolved run configuration as YAML, secrets masked."""
    return to_masked_yaml(load_run_config(mode, env, root=root, overrides=overrides, environ=environ))


def _venue_dict(venue: ResolvedVenue) -> dict[str, Any]:
    data: dict[str, Any] = {"environment": venue.environment}
    data.update(venue.config.model_dump(mode="json", exclude={"environments"}))
    data["settings"] = venue.settings.model_dump(mode="json")
    if venue.series:
        data["series"] = {
            key: {"path": source.path, "venue": source.venue, "series": source.series}
            for key, source in venue.series.items()
        }
    return data
