"""Reading configuration files into typed models.

Files live under one root (by default the folder this package is installed in)::

    <root>/modes/<mode>.yaml                 ModeConfig
    <root>/venues/<venue>.yaml               VenueConfig (model chosen by the venue's kind)
    <root>/share_classes/<NAME>.yaml         ShareClassConfig
    <root>/environments/<name>.yaml          EnvironmentConfig

A file's name is its config's name; a ``name`` key, if written, must agree. Error messages show a file as
``<root folder name>/<folder>/<file>``, e.g. ``configs/modes/btc_basis.yaml``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import ConfigError, ConfigValidationError, Issue, UnknownNameError
from .models.environment import EnvironmentConfig
from .models.mode import ModeConfig
from .models.share_class import ShareClassConfig
from .models.venue import VENUE_KINDS, VENUE_MODELS, VenueConfig
from .pydantic_errors import issues_from_validation_error
from .yaml_io import parse_yaml, read_mapping

Folder = Literal["modes", "venues", "share_classes", "environments"]
FOLDERS: Final[tuple[Folder, ...]] = ("modes", "venues", "share_classes", "environments")
SUFFIX: Final = ".yaml"

_WHAT: Final[dict[Folder, str]] = {
    "modes": "mode",
    "venues": "venue",
    "share_classes": "share class",
    "environments": "environment",
}

ModelT = TypeVar("ModelT", bound=BaseModel)


def default_root() -> Path:
    """The configuration folder shipped with the package."""
    return Path(__file__).resolve().parent


def as_root(root: Path | str | None) -> Path:
    return default_root() if root is None else Path(root)


def display_path(root: Path, path: Path) -> str:
    """How a file is named in messages: relative to the root's parent."""
    try:
        relative = path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
    return f"{root.name}/{relative}"


def config_path(root: Path, folder: Folder, name: str) -> Path:
    return root / folder / f"{name}{SUFFIX}"


def list_names(folder: Folder, root: Path | str | None = None) -> list[str]:
    """Names of the configs in ``folder``, sorted."""
    directory = as_root(root) / folder
    if not directory.is_dir():
        return []
    return sorted(path.stem for path in directory.glob(f"*{SUFFIX}") if path.is_file())


def list_modes(root: Path | str | None = None) -> list[str]:
    return list_names("modes", root)


def list_venues(root: Path | str | None = None) -> list[str]:
    return list_names("venues", root)


def list_share_classes(root: Path | str | None = None) -> list[str]:
    return list_names("share_classes", root)


def list_environments(root: Path | str | None = None) -> list[str]:
    return list_names("environments", root)


# --- mode names and aliases -----------------------------------------------------------------------


def mode_aliases(root: Path | str | None = None) -> dict[str, str]:
    """Alias -> mode name, read from the ``aliases`` key of every mode file that parses."""
    base = as_root(root)
    aliases: dict[str, str] = {}
    for name in list_modes(base):
        path = config_path(base, "modes", name)
        try:
            data = parse_yaml(path.read_text(encoding="utf-8"), display_path(base, path))
        except (ConfigError, OSError):
            continue
        listed = data.get("aliases") if isinstance(data, dict) else None
        if isinstance(listed, list):
            for alias in listed:
                if isinstance(alias, str):
                    aliases.setdefault(alias, name)
    return aliases


def resolve_mode_name(name: str, root: Path | str | None = None) -> str:
    """The mode file ``name`` refers to: itself, or the mode that lists it under ``aliases``."""
    base = as_root(root)
    if config_path(base, "modes", name).is_file():
        return name
    target = mode_aliases(base).get(name)
    if target is None:
        raise _unknown("modes", name, base)
    return target


# --- loading --------------------------------------------------------------------------------------


def load_mode(
    name: str, root: Path | str | None = None, overrides: Mapping[str, Any] | None = None
) -> ModeConfig:
    """Load a mode by name or alias; ``overrides`` (dotted key -> value) are applied before validation."""
    base = as_root(root)
    canonical = resolve_mode_name(name, base)
    path = config_path(base, "modes", canonical)
    data = read_mapping(path, display_path(base, path))
    display = mode_display(base, canonical, overrides)
    if overrides:
        data = apply_overrides(data, overrides, display)
    return build_model(ModeConfig, data, canonical, display)


def mode_display(root: Path, name: str, overrides: Mapping[str, Any] | None = None) -> str:
    """How a mode file is named in messages; marked when overrides changed what it says."""
    display = display_path(root, config_path(root, "modes", name))
    return f"{display} (with overrides)" if overrides else display


def load_venue(name: str, root: Path | str | None = None) -> VenueConfig:
    base = as_root(root)
    path = _existing(base, "venues", name)
    display = display_path(base, path)
    data = read_mapping(path, display)
    expected = VENUE_KINDS.get(name)  # type: ignore[call-overload]
    if expected is None:
        raise ConfigValidationError.single(
            display, "", f"not a known venue; known venues: {', '.join(VENUE_KINDS)}"
        )
    kind = data.get("kind")
    if kind != expected:
        got = "nothing" if kind is None else repr(kind)
        raise ConfigValidationError.single(display, "kind", f"must be {expected!r} for {name}, got {got}")
    venue: VenueConfig = build_model(VENUE_MODELS[expected], data, name, display)
    return venue


def load_share_class(name: str, root: Path | str | None = None) -> ShareClassConfig:
    base = as_root(root)
    path = _existing(base, "share_classes", name)
    return build_model(
        ShareClassConfig, read_mapping(path, display_path(base, path)), name, display_path(base, path)
    )


def load_environment(name: str, root: Path | str | None = None) -> EnvironmentConfig:
    base = as_root(root)
    path = _existing(base, "environments", name)
    display = display_path(base, path)
    return build_model(EnvironmentConfig, read_mapping(path, display), name, display)


def build_model(model: type[ModelT], data: Mapping[str, Any], name: str, display: str) -> ModelT:
    """Validate ``data`` (from the file named ``name``) into ``model``; errors name ``display``."""
    written = data.get("name", name)
    if written != name:
        raise ConfigValidationError.single(
            display, "name", f"must match the file name {name!r}, got {written!r}"
        )
    try:
        return model.model_validate({**data, "name": name})
    except ValidationError as error:
        raise ConfigValidationError(issues_from_validation_error(error, display)) from None
    except ConfigError as error:
        raise error.in_file(display) from None


# --- overrides ------------------------------------------------------------------------------------


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["hedge_allocation.okx=0", "lst_type=wstETH"]`` -> ``{"hedge_allocation.okx": 0, ...}``.

    Values are read as YAML, so numbers, booleans, ``null``, lists and mappings keep their types.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, separator, raw = item.partition("=")
        key = key.strip()
        if not separator or not key:
            raise ConfigValidationError.single(None, item, "an override is written key=value")
        overrides[key] = parse_yaml(raw, f"override {key}") if raw.strip() else None
    return overrides


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any], display: str) -> dict[str, Any]:
    """A copy of ``data`` with each dotted key set to its value."""
    result: dict[str, Any] = copy.deepcopy(dict(data))
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        target = result
        for depth, part in enumerate(parts[:-1]):
            child = target.setdefault(part, {})
            if child is None:
                child = target[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigValidationError.single(
                    display, dotted, f"cannot set a key inside {where}, which is not a mapping"
                )
            target = child
        target[parts[-1]] = copy.deepcopy(value)
    return result


# --- helpers --------------------------------------------------------------------------------------


def _existing(root: Path, folder: Folder, name: str) -> Path:
    path = config_path(root, folder, name)
    if not path.is_file():
        raise _unknown(folder, name, root)
    return path


def _unknown(folder: Folder, name: str, root: Path) -> UnknownNameError:
    known = list_names(folder, root)
    if folder == "modes":
        known += sorted(mode_aliases(root))
    listing = ", ".join(known) if known else "none"
    return UnknownNameError(
        [Issue(display_path(root, root / folder), "", f"no {_WHAT[folder]} named {name!r}; known: {listing}")]
    )
