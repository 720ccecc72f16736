"""One run's configuration: a mode, its share class, an environment, and the venues the mode needs,
each resolved for the environment it runs in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .consistency import effective_market_neutral, mode_issues, proxy_issues
from .errors import ConfigConsistencyError, Issue, MissingSecretError, UnknownNameError
from .loader import (
    as_root,
    config_path,
    display_path,
    load_environment,
    load_mode,
    load_share_class,
    load_venue,
    mode_display,
    resolve_mode_name,
)
from .models.base import EnvironmentName, VenueName
from .models.environment import EnvironmentConfig
from .models.mode import ModeConfig
from .models.share_class import ShareClassConfig
from .models.venue import VenueConfig
from .models.venue_environment import ChainConnection, SimulationFeeds
from .secret import resolve_secrets


@dataclass(frozen=True, slots=True)
class SeriesSource:
    """Where a simulated venue's series comes from: a file under the market-data root."""

    path: str
    venue: VenueName
    """The venue whose data it is (another venue when proxied)."""
    series: str
    """The series name at that venue."""


@dataclass(frozen=True, slots=True)
class ResolvedVenue:
    """A venue as one run uses it: its file, the chosen environment, secrets filled in."""

    name: VenueName
    environment: EnvironmentName
    config: VenueConfig
    """The whole venue file; secrets of ``environment`` are resolved, other environments are not."""
    series: Mapping[str, SeriesSource] = field(default_factory=dict)
    """Simulation only: every series the venue marks to, proxies followed."""

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def settings(self) -> Any:
        """The section of ``config.environments`` for ``environment``."""
        return self.config.environments.get(self.environment)

    @property
    def is_simulated(self) -> bool:
        return self.environment == "simulation"


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything one run is configured with; built by :func:`load_run_config`."""

    mode: ModeConfig
    share_class: ShareClassConfig
    environment: EnvironmentConfig
    venues: Mapping[VenueName, ResolvedVenue]
    """The venues the mode needs, in canonical venue order."""

    @property
    def market_neutral(self) -> bool:
        return effective_market_neutral(self.mode, self.share_class)

    def venue(self, name: VenueName) -> ResolvedVenue:
        return self.venues[name]


def load_run_config(
    mode: str,
    env: str,
    *,
    root: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> RunConfig:
    """Load and cross-check everything a run of ``mode`` (name or alias) in environment ``env`` needs.

    ``overrides`` (dotted mode key -> value) are applied to the mode before validation. Secrets of venues
    running on testnet or live are read from ``environ`` (default ``os.environ``); simulation needs none.
    """
    base = as_root(root)
    environ = os.environ if environ is None else environ
    mode_name = resolve_mode_name(mode, base)
    mode_config = load_mode(mode_name, base, overrides)
    mode_file = mode_display(base, mode_name, overrides)
    environment = load_environment(env, base)
    environment_file = display_path(base, config_path(base, "environments", env))

    try:
        share_class: ShareClassConfig | None = load_share_class(mode_config.share_class, base)
    except UnknownNameError:
        share_class = None

    issues: list[Issue] = []
    chosen: dict[VenueName, tuple[EnvironmentName, VenueConfig]] = {}
    for name in mode_config.required_venues():
        env_name = environment.environment_of(name)
        if env_name is None:
            issues.append(
                Issue(
                    environment_file, f"venues.{name}", f"mode {mode_name} needs {name}, which is not mapped"
                )
            )
            continue
        venue = _load_venue_or_issue(name, base, environment_file, issues)
        if venue is None:
            continue
        if venue.environments.get(env_name) is None:
            issues.append(
                Issue(
                    _venue_file(base, name),
                    f"environments.{env_name}",
                    f"not defined, but environment {env} runs {name} on {env_name} for mode {mode_name}",
                )
            )
            continue
        chosen[name] = (env_name, venue)

    venue_configs: dict[str, VenueConfig] = {name: venue for name, (_env, venue) in chosen.items()}
    issues += mode_issues(mode_config, mode_file, share_class, venue_configs)
    issues += _live_chain_issues(chosen, base, environment_file)
    if issues:
        raise ConfigConsistencyError(issues)
    assert share_class is not None

    series = _resolve_series(chosen, base)
    resolved = _resolve_credentials(chosen, base, environ)
    venues = {
        name: ResolvedVenue(name, chosen[name][0], resolved[name], series.get(name, {})) for name in chosen
    }
    return RunConfig(mode_config, share_class, environment, venues)


def _venue_file(root: Path, name: str) -> str:
    return display_path(root, config_path(root, "venues", name))


def _load_venue_or_issue(
    name: str, root: Path, environment_file: str, issues: list[Issue]
) -> VenueConfig | None:
    try:
        return load_venue(name, root)
    except UnknownNameError:
        issues.append(Issue(environment_file, f"venues.{name}", f"no venue file {_venue_file(root, name)}"))
    return None


def _live_chain_issues(
    chosen: Mapping[VenueName, tuple[EnvironmentName, VenueConfig]], root: Path, environment_file: str
) -> list[Issue]:
    """Testnet and live on-chain venues: known addresses, one chain, and an RPC on the same footing."""
    issues: list[Issue] = []
    chains: dict[VenueName, ChainConnection] = {}
    for name, (env_name, venue) in chosen.items():
        section = venue.environments.get(env_name)
        if env_name == "simulation" or not isinstance(section, ChainConnection):
            continue
        chains[name] = section
        for contract, address in section.contracts.items():
            if address is None:
                issues.append(
                    Issue(
                        _venue_file(root, name),
                        f"environments.{env_name}.contracts.{contract}",
                        f"no address known on {section.network}, so {name} cannot run on {env_name}",
                    )
                )
    if not chains:
        return issues
    rpc = next((name for name, (_env, venue) in chosen.items() if venue.kind == "rpc"), None)
    if rpc is None or rpc not in chains:
        first = next(iter(chains))
        rpc_env = chosen[rpc][0] if rpc is not None else "nothing"
        issues.append(
            Issue(
                environment_file,
                f"venues.{rpc or 'alchemy'}",
                f"{first} runs on {chosen[first][0]}, so the RPC venue must too, got {rpc_env}",
            )
        )
        return issues
    reference = chains[rpc]
    for name, section in chains.items():
        if section.chain_id != reference.chain_id:
            env_name = chosen[name][0]
            issues.append(
                Issue(
                    _venue_file(root, name),
                    f"environments.{env_name}.chain_id",
                    f"{section.chain_id} ({section.network}) differs from {rpc}'s {reference.chain_id} "
                    f"({reference.network}); on-chain venues of one run share one chain",
                )
            )
    return issues


def _resolve_series(
    chosen: Mapping[VenueName, tuple[EnvironmentName, VenueConfig]], root: Path
) -> dict[VenueName, dict[str, SeriesSource]]:
    result: dict[VenueName, dict[str, SeriesSource]] = {}
    issues: list[Issue] = []
    loaded: dict[str, VenueConfig | None] = {name: venue for name, (_env, venue) in chosen.items()}
    for name, (env_name, venue) in chosen.items():
        feeds = venue.simulation_feeds()
        if env_name != "simulation" or feeds is None:
            continue
        for proxy in feeds.proxies.values():
            if proxy.venue not in loaded:
                try:
                    loaded[proxy.venue] = load_venue(proxy.venue, root)
                except UnknownNameError:
                    pass  # reported by proxy_issues
        found = proxy_issues(venue, _venue_file(root, name), loaded)
        issues += found
        if not found:
            result[name] = _series_of(name, feeds, loaded)
    if issues:
        raise ConfigConsistencyError(issues)
    return result


def _series_of(
    name: VenueName, feeds: SimulationFeeds, loaded: Mapping[str, VenueConfig | None]
) -> dict[str, SeriesSource]:
    series = {key: SeriesSource(path, name, key) for key, path in feeds.series.items()}
    for key, proxy in feeds.proxies.items():
        target = loaded[proxy.venue]
        target_feeds = target.simulation_feeds() if target is not None else None
        assert target_feeds is not None
        series[key] = SeriesSource(target_feeds.series[proxy.series], proxy.venue, proxy.series)
    return series


def _resolve_credentials(
    chosen: Mapping[VenueName, tuple[EnvironmentName, VenueConfig]], root: Path, environ: Mapping[str, str]
) -> dict[VenueName, VenueConfig]:
    resolved: dict[VenueName, VenueConfig] = {}
    missing: list[Issue] = []
    for name, (env_name, venue) in chosen.items():
        if env_name == "simulation":
            resolved[name] = venue
            continue
        try:
            resolved[name] = _with_secrets(venue, env_name, environ)
        except MissingSecretError as error:
            missing += error.in_file(_venue_file(root, name)).issues
    if missing:
        raise MissingSecretError(missing)
    return resolved


def _with_secrets(venue: VenueConfig, env_name: EnvironmentName, environ: Mapping[str, str]) -> VenueConfig:
    section = venue.environments.get(env_name)
    assert section is not None
    filled = resolve_secrets(section, environ, field_prefix=f"environments.{env_name}")
    environments = venue.environments.model_copy(update={env_name: filled})
    return venue.model_copy(update={"environments": environments})


__all__ = ["ResolvedVenue", "RunConfig", "SeriesSource", "load_run_config"]
