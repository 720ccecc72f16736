"""Secrets: written in YAML only as ``${ENV_VAR}`` references, resolved from the process environment.

A :class:`Secret` never shows its value: ``str()``, ``repr()`` and every pydantic dump give ``***``
(or the variable name in ``repr``). Only :meth:`Secret.get_secret_value` returns the value, and only
after :func:`resolve_secrets` filled it in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from .errors import Issue, MissingSecretError

MASK: Final = "***"

_REFERENCE = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)\}$")


class Secret:
    """A credential taken from the environment variable ``env_var``."""

    __slots__ = ("_env_var", "_value")

    def __init__(self, env_var: str, value: str | None = None) -> None:
        self._env_var = env_var
        self._value = value

    @classmethod
    def parse(cls, reference: str) -> Secret:
        """``"${NAME}"`` -> an unresolved secret read from ``NAME``."""
        match = _REFERENCE.match(reference)
        if match is None:
            raise ValueError(f"not an environment reference: {reference!r}")
        return cls(match.group(1))

    @property
    def env_var(self) -> str:
        return self._env_var

    @property
    def reference(self) -> str:
        return "${" + self._env_var + "}"

    @property
    def is_resolved(self) -> bool:
        return self._value is not None

    def get_secret_value(self) -> str:
        if self._value is None:
            raise MissingSecretError.single(
                None,
                "",
                f"secret {self.reference} was not resolved; load the configuration for testnet or live",
            )
        return self._value

    def with_value(self, value: str) -> Secret:
        return Secret(self._env_var, value)

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        state = "resolved" if self.is_resolved else "unresolved"
        return f"Secret({self.reference}, {state})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return (self._env_var, self._value) == (other._env_var, other._value)

    def __hash__(self) -> int:
        return hash((Secret, self._env_var, self._value))

    @classmethod
    def _validate(cls, value: object) -> Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str) and _REFERENCE.match(value):
            return cls.parse(value)
        raise PydanticCustomError(
            "secret_reference",
            "must be an environment reference like ${NAME}; secrets are never written in config files",
        )

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda _secret: MASK, return_schema=core_schema.str_schema()
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": _REFERENCE.pattern}


ModelT = TypeVar("ModelT", bound=BaseModel)


def resolve_secrets(model: ModelT, environ: Mapping[str, str], *, field_prefix: str = "") -> ModelT:
    """A copy of ``model`` with every :class:`Secret` filled in from ``environ``.

    Raises :class:`MissingSecretError` naming every field whose variable is unset or empty.
    """
    missing: list[Issue] = []
    resolved = _resolve(model, environ, field_prefix, missing)
    if missing:
        raise MissingSecretError(missing)
    assert isinstance(resolved, type(model))
    return resolved


def _resolve(value: object, environ: Mapping[str, str], path: str, missing: list[Issue]) -> object:
    if isinstance(value, Secret):
        found = environ.get(value.env_var)
        if not found:
            state = "is empty" if found == "" else "is not set"
            missing.append(Issue(None, path, f"environment variable {value.env_var} {state}"))
            return value
        return value.with_value(found)
    if isinstance(value, BaseModel):
        updates: dict[str, object] = {}
        for name in type(value).model_fields:
            current = getattr(value, name)
            new = _resolve(current, environ, _join(path, name), missing)
            if new is not current:
                updates[name] = new
        return value.model_copy(update=updates) if updates else value
    if isinstance(value, dict):
        items = {key: _resolve(item, environ, _join(path, str(key)), missing) for key, item in value.items()}
        changed = any(items[key] is not value[key] for key in value)
        return items if changed else value
    return value


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
