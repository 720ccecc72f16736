"""Turning pydantic's ValidationError into Issues that name the file and the dotted field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from .errors import Issue
from .models.base import fmt

_BOUNDS: Final[dict[str, tuple[str, str]]] = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}

_TYPES: Final[dict[str, str]] = {
    "float_type": "a number",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "list_type": "a list",
}


def issues_from_validation_error(error: ValidationError, display: str | None) -> list[Issue]:
    return [Issue(display, dotted_path(detail["loc"]), message(detail)) for detail in error.errors()]


def dotted_path(loc: Sequence[int | str]) -> str:
    """``("hedge_venues", 1)`` -> ``hedge_venues[1]``; dict-key markers are dropped."""
    parts: list[str] = []
    for item in loc:
        if item == "[key]":
            continue
        if isinstance(item, int):
            if parts:
                parts[-1] = f"{parts[-1]}[{item}]"
            else:
                parts.append(f"[{item}]")
        else:
            parts.append(str(item))
    return ".".join(parts)


def message(detail: ErrorDetails) -> str:
    kind = detail["type"]
    context: dict[str, Any] = dict(detail.get("ctx") or {})
    given = show(detail.get("input"))
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    if kind == "literal_error":
        return f"must be {context['expected']}, got {given}"
    if kind in _BOUNDS:
        key, operator = _BOUNDS[kind]
        return f"must be {operator} {show(context[key])}, got {given}"
    if kind in _TYPES:
        return f"must be {_TYPES[kind]}, got {given}"
    if kind == "string_pattern_mismatch":
        return f"must match {context['pattern']}, got {given}"
    text = detail["msg"]
    return text.removeprefix("Value error, ")


def show(value: object) -> str:
    """A value as YAML would write it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return fmt(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__
