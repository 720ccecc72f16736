"""Rules that span files: a mode against its share class and venues, proxies against the venues they
point to, environments against the venue files."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import Issue
from .models.base import fmt
from .models.environment import EnvironmentConfig
from .models.mode import ModeConfig
from .models.share_class import ShareClassConfig
from .models.venue import CexVenueConfig, LendingVenueConfig, VenueConfig


def effective_market_neutral(mode: ModeConfig, share_class: ShareClassConfig) -> bool:
    """The mode's own ``market_neutral`` if written, otherwise its share class's."""
    return share_class.market_neutral if mode.market_neutral is None else mode.market_neutral


def mode_issues(
    mode: ModeConfig,
    mode_file: str,
    share_class: ShareClassConfig | None,
    venues: Mapping[str, VenueConfig],
) -> list[Issue]:
    """A mode against its share class and the venue files it relies on (those present in ``venues``)."""
    return [*share_class_issues(mode, mode_file, share_class), *mode_venue_issues(mode, mode_file, venues)]


def share_class_issues(mode: ModeConfig, mode_file: str, share_class: ShareClassConfig | None) -> list[Issue]:
    if share_class is None:
        return [Issue(mode_file, "share_class", f"no share class {mode.share_class!r}")]
    return _neutrality_issues(mode, mode_file, share_class)


def mode_venue_issues(mode: ModeConfig, mode_file: str, venues: Mapping[str, VenueConfig]) -> list[Issue]:
    """Limits and markets a mode relies on, against the venue files present in ``venues``."""
    return [*_ltv_issues(mode, mode_file, venues), *_market_issues(mode, mode_file, venues)]


def _neutrality_issues(mode: ModeConfig, mode_file: str, share_class: ShareClassConfig) -> list[Issue]:
    if not effective_market_neutral(mode, share_class):
        return []
    if share_class.base_asset != mode.asset and not mode.basis_trade_enabled:
        return [
            Issue(
                mode_file,
                "basis_trade_enabled",
                f"share class {share_class.name} is market neutral, so a mode holding {mode.asset} must hedge it "
                "(or set market_neutral: false)",
            )
        ]
    return []


def _ltv_issues(mode: ModeConfig, mode_file: str, venues: Mapping[str, VenueConfig]) -> list[Issue]:
    risk_class_name = mode.aave_risk_class
    lending = venues.get(mode.venues.lending or "")
    if risk_class_name is None or not isinstance(lending, LendingVenueConfig):
        return []
    if mode.target_ltv is None or mode.max_ltv is None:
        return []
    risk_class = lending.risk_class(risk_class_name)
    source = f"the {risk_class_name} class of {lending.name}"
    threshold = risk_class.liquidation_threshold
    issues: list[Issue] = []
    if mode.max_ltv >= threshold:
        issues.append(
            Issue(
                mode_file,
                "max_ltv",
                f"must be below the liquidation threshold of {source} ({fmt(threshold)}), got {fmt(mode.max_ltv)}",
            )
        )
    else:
        health = threshold / mode.max_ltv
        if health <= mode.risk.health_factor_critical:
            issues.append(
                Issue(
                    mode_file,
                    "max_ltv",
                    f"gives health factor {health:.4g} with {source}, not above "
                    f"risk.health_factor_critical ({fmt(mode.risk.health_factor_critical)})",
                )
            )
    if mode.target_ltv > risk_class.ltv:
        issues.append(
            Issue(
                mode_file,
                "target_ltv",
                f"must not exceed the LTV limit of {source} ({fmt(risk_class.ltv)}), got {fmt(mode.target_ltv)}",
            )
        )
    elif mode.target_ltv < threshold:
        health = threshold / mode.target_ltv
        if health <= mode.risk.health_factor_warning:
            issues.append(
                Issue(
                    mode_file,
                    "target_ltv",
                    f"gives health factor {health:.4g} with {source}, not above "
                    f"risk.health_factor_warning ({fmt(mode.risk.health_factor_warning)})",
                )
            )
    return issues


def _market_issues(mode: ModeConfig, mode_file: str, venues: Mapping[str, VenueConfig]) -> list[Issue]:
    issues: list[Issue] = []
    if mode.basis_trade_enabled:
        spot = venues.get(mode.venues.spot or "")
        if isinstance(spot, CexVenueConfig) and not spot.has_market("spot", mode.instrument):
            issues.append(
                Issue(mode_file, "venues.spot", f"{spot.name} has no spot market {mode.instrument}")
            )
        for name in mode.active_hedge_allocation:
            hedge = venues.get(name)
            if isinstance(hedge, CexVenueConfig) and not hedge.has_market("perp", mode.instrument):
                issues.append(
                    Issue(
                        mode_file, f"hedge_allocation.{name}", f"{name} has no perp market {mode.instrument}"
                    )
                )
    if mode.ml_config is not None:
        venue = venues.get(mode.ml_config.venue)
        if isinstance(venue, CexVenueConfig) and not venue.has_market("perp", mode.ml_config.symbol):
            issues.append(
                Issue(
                    mode_file, "ml_config.symbol", f"{venue.name} has no perp market {mode.ml_config.symbol}"
                )
            )
    return issues


def proxy_issues(
    venue: VenueConfig, venue_file: str, venues: Mapping[str, VenueConfig | None]
) -> list[Issue]:
    """Every proxy of ``venue``'s simulation points to a series another venue file defines.

    ``venues`` maps a venue to its config, or to None when its file is invalid (reported on its own).
    """
    feeds = venue.simulation_feeds()
    if feeds is None:
        return []
    issues: list[Issue] = []
    for key, proxy in feeds.proxies.items():
        field = f"environments.simulation.proxies.{key}"
        if proxy.venue not in venues:
            issues.append(Issue(venue_file, f"{field}.venue", f"venue {proxy.venue} has no venue file"))
            continue
        target = venues[proxy.venue]
        if target is None:
            continue
        target_feeds = target.simulation_feeds()
        if target_feeds is None or proxy.series not in target_feeds.series:
            issues.append(
                Issue(venue_file, f"{field}.series", f"{proxy.venue} has no simulation series {proxy.series}")
            )
    return issues


def environment_issues(
    environment: EnvironmentConfig, environment_file: str, venues: Mapping[str, VenueConfig | None]
) -> list[Issue]:
    """Every venue the environment maps has a venue file defining that environment.

    ``venues`` maps a venue to its config, or to None when its file is invalid (reported on its own).
    """
    issues: list[Issue] = []
    for name, env_name in environment.venues.items():
        if name not in venues:
            issues.append(Issue(environment_file, f"venues.{name}", f"{name} has no venue file"))
            continue
        venue = venues[name]
        if venue is not None and venue.environments.get(env_name) is None:
            issues.append(
                Issue(
                    environment_file, f"venues.{name}", f"{name} does not define the {env_name} environment"
                )
            )
    return issues
