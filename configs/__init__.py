"""Configuration of basis: strategy modes, venues, share classes and execution environments.

YAML files under this package (``modes/``, ``venues/``, ``share_classes/``, ``environments/``) are read
into strict, frozen pydantic models. The functions here are the whole public surface:

- :func:`load_run_config` — a mode (name or alias) in an environment, with its share class and the
  venues it needs resolved for that environment (secrets from the process environment on testnet/live).
- :func:`show_config`, :func:`to_masked_dict`, :func:`to_masked_yaml` — the same, printable, secrets ``***``.
- :func:`validate_all` — every file checked alone and against the others.
- :func:`load_mode`, :func:`load_venue`, :func:`load_share_class`, :func:`load_environment` and the
  ``list_*`` functions — single files.

Every function takes ``root`` to read another configuration folder; the default is this package's.
"""

from .errors import (
    ConfigConsistencyError,
    ConfigError,
    ConfigFileError,
    ConfigValidationError,
    Issue,
    MissingSecretError,
    UnknownNameError,
)
from .loader import (
    default_root,
    list_environments,
    list_modes,
    list_share_classes,
    list_venues,
    load_environment,
    load_mode,
    load_share_class,
    load_venue,
    mode_aliases,
    parse_overrides,
    resolve_mode_name,
)
from .models import (
    CexVenueConfig,
    DexVenueConfig,
    EnvironmentConfig,
    FlashLoanVenueConfig,
    LendingVenueConfig,
    MiddlewareVenueConfig,
    MlConfig,
    ModeConfig,
    RiskThresholds,
    RpcVenueConfig,
    ShareClassConfig,
    StakingVenueConfig,
    VenueConfig,
)
from .run import ResolvedVenue, RunConfig, SeriesSource, load_run_config
from .secret import MASK, Secret
from .show import show_config, to_masked_dict, to_masked_yaml
from .validate import validate_all

__all__ = [
    "MASK",
    "CexVenueConfig",
    "ConfigConsistencyError",
    "ConfigError",
    "ConfigFileError",
    "ConfigValidationError",
    "DexVenueConfig",
    "EnvironmentConfig",
    "FlashLoanVenueConfig",
    "Issue",
    "LendingVenueConfig",
    "MiddlewareVenueConfig",
    "MissingSecretError",
    "MlConfig",
    "ModeConfig",
    "ResolvedVenue",
    "RiskThresholds",
    "RpcVenueConfig",
    "RunConfig",
    "Secret",
    "SeriesSource",
    "ShareClassConfig",
    "StakingVenueConfig",
    "UnknownNameError",
    "VenueConfig",
    "default_root",
    "list_environments",
    "list_modes",
    "list_share_classes",
    "list_venues",
    "load_environment",
    "load_mode",
    "load_run_config",
    "load_share_class",
    "load_venue",
    "mode_aliases",
    "parse_overrides",
    "resolve_mode_name",
    "show_config",
    "to_masked_dict",
    "to_masked_yaml",
    "validate_all",
]
