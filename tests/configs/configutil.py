"""Editing configuration files in tests: read, write and change YAML files by dotted key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_DELETE = object()


class ConfigFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, relative: str) -> dict[str, Any]:
        data = yaml.safe_load((self.root / relative).read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        return data

    def write(self, relative: str, content: dict[str, Any] | str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    def set(self, relative: str, changes: dict[str, Any]) -> None:
        """Set dotted keys (``"hedge_allocation.okx": 0.2``); the value ``DELETE`` removes the key."""
        data = self.read(relative)
        for dotted, value in changes.items():
            *parents, last = dotted.split(".")
            target = data
            for part in parents:
                target = target.setdefault(part, {})
            if value is _DELETE:
                del target[last]
            else:
                target[last] = value
        self.write(relative, data)

    def delete(self, relative: str, *dotted: str) -> None:
        self.set(relative, dict.fromkeys(dotted, _DELETE))
