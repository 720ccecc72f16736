"""Maps the top-level folders onto one import namespace: bus/ -> basis.bus, components/ -> basis.components, ...

Installing basis never puts a module called ``bus`` or ``components`` into site-packages.

The hot modules of a replay (``COMPILED``) are compiled with mypyc (a replay about 15% faster) when a
wheel is built (``pip install .``, ``pip wheel .``), unless ``BASIS_COMPILE=0``. An editable install
(``pip install -e .``) stays pure Python, so an edited module is what runs; ``BASIS_COMPILE=1`` compiles it
too (then rebuild after every edit: the compiled module shadows its source). Without mypyc at build time,
basis installs as pure Python.
"""

import os
import shutil
import sys
from glob import glob
from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup

LAYERS = ("bus", "components", "venues", "projections", "configs", "data")
DATA_LAYERS = ("configs", "data")
"""Layers whose sub-folders hold files, not code (YAML configs, the bundled market data)."""
CODE_ROOTS = ("basis", "bus", "components", "venues", "projections")

COMPILED = (
    "bus/transport/inprocess.py",
    "bus/bus.py",
    "bus/codec.py",
    "bus/subjects.py",
    "bus/ids.py",
    "bus/clock.py",
    "bus/component.py",
    "bus/balances.py",
    "components/pricing.py",
    "components/position_monitor.py",
    "components/exposure_monitor.py",
    "components/risk_monitor.py",
    "components/pnl_monitor.py",
    "components/strategy/*.py",
    "components/router/*.py",
    "components/feed/*.py",
    "venues/gateway.py",
    "venues/simulated/*.py",
)
"""The modules a replay spends its time in (globs, as laid out in the repository); never bus/messages
(msgspec Structs, which mypyc cannot compile)."""

packages = ["basis", *(f"basis.{p}" for p in find_packages(where="basis"))]
package_dir = {"basis": "basis"}
for layer in LAYERS:
    package_dir[f"basis.{layer}"] = layer
    packages.append(f"basis.{layer}")
    find = find_namespace_packages if layer in DATA_LAYERS else find_packages
    packages += [f"basis.{layer}.{p}" for p in find(where=layer, exclude=["__pycache__", "*.__pycache__"])]


BUILDS = frozenset({"build", "build_ext", "bdist_wheel", "install"})
EDITABLE = frozenset({"editable_wheel", "develop"})


def compiling(argv: list[str], setting: str) -> bool:
    """Whether this setup.py call builds compiled modules (see the module doc); metadata-only calls
    (egg_info, dist_info, sdist) never do."""
    if setting == "0":
        return False
    commands = set(argv)
    if commands & EDITABLE:
        return setting == "1"
    return bool(commands & BUILDS)


def compiled_extensions() -> list:
    """mypyc extension modules for ``COMPILED``, or none (pure Python).

    mypy finds a module's name from its path, so the sources are copied into ``build/mypyc-src`` laid out
    as the installed package (bus/bus.py -> basis/bus/bus.py), as ``.ci/lint`` does with links.
    """
    if not compiling(sys.argv[1:], os.environ.get("BASIS_COMPILE", "")):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    tree = Path("build/mypyc-src")
    shutil.rmtree(tree, ignore_errors=True)
    for root in CODE_ROOTS:
        target = tree / "basis" / root if root != "basis" else tree / "basis"
        for source in Path(root).rglob("*"):
            if source.suffix in (".py", ".pyi") or source.name == "py.typed":
                copy = target / source.relative_to(root)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, copy)
    paths = sorted(
        {path for pattern in COMPILED for path in glob(pattern) if Path(path).name != "__init__.py"}
    )
    return mypycify(
        [str(tree / "basis" / path) for path in paths],
        group_name="basis._native",
        target_dir="build/mypyc",
    )


setup(packages=packages, package_dir=package_dir, ext_modules=compiled_extensions())
