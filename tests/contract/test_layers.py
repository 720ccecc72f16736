"""The layering rule: ``venues/`` and ``components/`` meet only through the bus and the gateway port.

Neither imports the other; both may import ``bus/`` (messages, subjects, the component base, balances).
Only the composition roots under ``basis/`` (the backtest wiring, the process runner, the CLI) know both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    ("venues", "components"),
    ("components", "venues"),
    ("bus", "components"),
    ("bus", "venues"),
)
"""``(layer, the layer it must never import)``: ``bus`` is the contract, it imports neither."""


def imported_modules(root: Path, path: Path) -> set[tuple[int, str]]:
    """Every ``(line, module)`` of basis that ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["basis", *path.relative_to(root).with_suffix("").parts[:-1]]
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                names = [node.module or ""]
        else:
            continue
        found.update((node.lineno, name) for name in names if name.startswith("basis."))
    return found


def offenders(root: Path, layer: str, forbidden: str) -> list[str]:
    prefix = f"basis.{forbidden}"
    out = []
    for path in sorted((root / layer).rglob("*.py")):
        for line, name in sorted(imported_modules(root, path)):
            if name == prefix or name.startswith(prefix + "."):
                out.append(f"{path.relative_to(root)}:{line} imports {name}")
    return out


@pytest.mark.parametrize(("layer", "forbidden"), FORBIDDEN)
def test_layer_does_not_import(layer: str, forbidden: str) -> None:
    assert offenders(ROOT, layer, forbidden) == []


def test_the_rule_catches_a_relative_import(tmp_path: Path) -> None:
    """A relative import that climbs out of ``venues/`` into ``components/`` is resolved and caught."""
    probe = tmp_path / "venues" / "simulated" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from ...components import pricing\nimport basis.components.router\nfrom . import cex\n")
    assert offenders(tmp_path, "venues", "components") == [
        "venues/simulated/probe.py:1 imports basis.components",
        "venues/simulated/probe.py:2 imports basis.components.router",
    ]
