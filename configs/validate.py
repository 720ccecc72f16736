"""``basis config validate``: check every file under a configuration root, alone and against each other."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .consistency import environment_issues, mode_venue_issues, proxy_issues, share_class_issues
from .errors import ConfigConsistencyError, ConfigError, ConfigFileError, Issue
from .loader import (
    FOLDERS,
    SUFFIX,
    Folder,
    as_root,
    config_path,
    display_path,
    list_names,
    load_environment,
    load_mode,
    load_share_class,
    load_venue,
)
from .models.venue import VenueConfig

T = TypeVar("T")


def validate_all(root: Path | str | None = None) -> list[tuple[str, ConfigError]]:
    """Every problem in the configuration under ``root`` as ``(file, error)``, sorted by file.

    An empty list means every file is valid on its own and consistent with the others. Secrets are not
    resolved here (they depend on the process environment); :func:`load_run_config` checks them.
    """
    base = as_root(root)
    problems: list[tuple[str, ConfigError]] = [*_stray_files(base)]

    def load_all(folder: Folder, load: Callable[[str, Path], T]) -> dict[str, T | None]:
        loaded: dict[str, T | None] = {}
        for name in list_names(folder, base):
            try:
                loaded[name] = load(name, base)
            except ConfigError as error:
                loaded[name] = None
                problems.append((display_path(base, base / folder / f"{name}{SUFFIX}"), error))
        return loaded

    share_classes = load_all("share_classes", load_share_class)
    venues = load_all("venues", load_venue)
    environments = load_all("environments", load_environment)
    modes = load_all("modes", lambda name, root: load_mode(name, root))

    issues: list[Issue] = []
    usable_venues: dict[str, VenueConfig] = {
        name: venue for name, venue in venues.items() if venue is not None
    }
    for name, venue in usable_venues.items():
        issues += proxy_issues(venue, _file(base, "venues", name), venues)
    for name, environment in environments.items():
        if environment is not None:
            issues += environment_issues(environment, _file(base, "environments", name), venues)
    alias_owner: dict[str, str] = {}
    for name, mode in modes.items():
        if mode is None:
            continue
        mode_file = _file(base, "modes", name)
        if mode.share_class not in share_classes or share_classes[mode.share_class] is not None:
            issues += share_class_issues(mode, mode_file, share_classes.get(mode.share_class))
        issues += mode_venue_issues(mode, mode_file, usable_venues)
        for alias in mode.aliases:
            if alias in modes:
                issues.append(Issue(mode_file, "aliases", f"{alias} is the name of a mode"))
            elif alias in alias_owner:
                issues.append(
                    Issue(mode_file, "aliases", f"{alias} is also an alias of {alias_owner[alias]}")
                )
            else:
                alias_owner[alias] = name

    by_file: dict[str, list[Issue]] = defaultdict(list)
    for issue in issues:
        by_file[issue.file or ""].append(issue)
    problems += [(file, ConfigConsistencyError(found)) for file, found in by_file.items()]
    return sorted(problems, key=lambda problem: problem[0])


def _file(root: Path, folder: Folder, name: str) -> str:
    return display_path(root, config_path(root, folder, name))


def _stray_files(root: Path) -> list[tuple[str, ConfigError]]:
    """YAML files outside the four folders, or with another suffix, would be silently ignored."""
    problems: list[tuple[str, ConfigError]] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in (".yaml", ".yml"):
            continue
        relative = path.relative_to(root)
        display = display_path(root, path)
        if len(relative.parts) != 2 or relative.parts[0] not in FOLDERS:
            message = f"not read: configuration files belong in {', '.join(FOLDERS)}"
        elif path.suffix != SUFFIX:
            message = f"not read: configuration files end in {SUFFIX}"
        else:
            continue
        problems.append((display, ConfigFileError.single(display, "", message)))
    return problems
