"""Errors raised while reading, checking and resolving configuration.

Every error names the file and the dotted field it is about::

    configs/modes/btc_basis.yaml: hedge_allocation: must sum to 1, got 0.9

Hierarchy::

    ConfigError                   base class; holds one or more Issues
    ├── ConfigFileError           a file is missing, unreadable or not valid YAML
    │   └── UnknownNameError      no mode, venue, share class or environment of that name
    ├── ConfigValidationError     a value breaks a rule of its own file (types, ranges, unknown keys, ...)
    ├── ConfigConsistencyError    files disagree: a reference to a missing file or section, a limit
    │                             beyond a venue parameter, a venue not usable in the chosen environment
    └── MissingSecretError        a secret refers to an environment variable that is not set
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Self


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: the file (display path), the dotted field inside it, and what is wrong."""

    file: str | None
    field: str
    message: str

    def __str__(self) -> str:
        parts = [part for part in (self.file, self.field) if part]
        return ": ".join([*parts, self.message])


class ConfigError(Exception):
    """Base class of every configuration error; ``str(error)`` is one line per issue."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        if not self.issues:
            raise ValueError("a ConfigError needs at least one issue")
        super().__init__("\n".join(str(issue) for issue in self.issues))

    @classmethod
    def single(cls, file: str | None, field: str, message: str) -> Self:
        return cls([Issue(file, field, message)])

    @property
    def file(self) -> str | None:
        """The file of the first issue."""
        return self.issues[0].file

    def in_file(self, file: str) -> Self:
        """The same error with ``file`` filled in where the issues did not name one."""
        return type(self)(Issue(issue.file or file, issue.field, issue.message) for issue in self.issues)

    def __reduce__(self) -> tuple[type[Self], tuple[tuple[Issue, ...]]]:
        return type(self), (self.issues,)


class ConfigFileError(ConfigError):
    """A configuration file is missing, unreadable or not valid YAML."""


class UnknownNameError(ConfigFileError):
    """No mode, venue, share class or environment has the requested name."""


class ConfigValidationError(ConfigError):
    """A value breaks a rule of the file it is in."""


class ConfigConsistencyError(ConfigError):
    """Two or more files disagree with each other."""


class MissingSecretError(ConfigError):
    """A secret refers to an environment variable that is not set (testnet and live only)."""
