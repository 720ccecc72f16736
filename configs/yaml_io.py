"""Reading and writing YAML: safe loading that also rejects a key written twice in one mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from .errors import ConfigFileError

_MERGE_TAG = "tag:yaml.org,2002:merge"


def parse_yaml(text: str, display: str) -> Any:
    """Parse one YAML document safely; errors name ``display`` and the line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _reject_duplicate_keys(node, display, set())
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = error.problem or error.context or "cannot parse"
        raise ConfigFileError.single(display, where, problem) from None
    except yaml.YAMLError as error:
        raise ConfigFileError.single(display, "", f"invalid YAML: {error}") from None
    finally:
        loader.dispose()


def _reject_duplicate_keys(node: Node, display: str, seen_nodes: set[int]) -> None:
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                key = str(key_node.value)
                if key in keys:
                    line = f"line {key_node.start_mark.line + 1}"
                    raise ConfigFileError.single(display, line, f"duplicate key {key!r}")
                keys.add(key)
            _reject_duplicate_keys(value_node, display, seen_nodes)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item, display, seen_nodes)


def read_mapping(path: Path, display: str) -> dict[str, Any]:
    """The top-level mapping of a YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError.single(display, "", "file not found") from None
    except OSError as error:
        raise ConfigFileError.single(display, "", f"cannot read: {error.strerror}") from None
    data = parse_yaml(text, display)
    if not isinstance(data, dict):
        raise ConfigFileError.single(display, "", "must contain a mapping of keys to values")
    for key in data:
        if not isinstance(key, str):
            raise ConfigFileError.single(display, str(key), "keys must be strings")
    return data


def dump_yaml(data: Any) -> str:
    return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=110))
