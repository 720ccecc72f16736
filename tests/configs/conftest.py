"""Fixtures for the configuration tests.

``config_root``
    A copy of the shipped configuration (``modes``, ``venues``, ``share_classes``, ``environments``) in a
    temporary folder named ``configs``, so error messages read ``configs/<folder>/<file>.yaml`` as they do
    for the shipped files. Tests break it on purpose.

``config_files``
    Reads and edits YAML files under ``config_root`` by dotted key.

``no_secrets``
    Removes every variable the shipped venue files refer to from the process environment.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from configutil import ConfigFiles

from basis.configs import default_root
from basis.configs.loader import FOLDERS


@pytest.fixture
def config_root(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    for folder in FOLDERS:
        shutil.copytree(default_root() / folder, root / folder)
    return root


@pytest.fixture
def config_files(config_root: Path) -> ConfigFiles:
    return ConfigFiles(config_root)


def referenced_variables() -> set[str]:
    """Every ``${NAME}`` the shipped venue files refer to."""
    names: set[str] = set()
    for path in (default_root() / "venues").glob("*.yaml"):
        names.update(re.findall(r"\$\{([A-Z0-9_]+)\}", path.read_text(encoding="utf-8")))
    return names


@pytest.fixture
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in referenced_variables():
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def all_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every referenced variable set to a distinctive value that must never be printed."""
    values = {name: f"sekret-{name.lower()}" for name in referenced_variables()}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values
