"""Maps the top-level folders onto one import namespace: bus/ -> basis.bus, components/ -> basis.components, ...

Installing basis never puts a module called ``bus`` or ``components`` into site-packages.
"""

from setuptools import find_namespace_packages, find_packages, setup

LAYERS = ("bus", "components", "venues", "projections", "configs", "data")
DATA_LAYERS = ("configs", "data")
"""Layers whose sub-folders hold files, not code (YAML configs, the bundled market data)."""

packages = ["basis", *(f"basis.{p}" for p in find_packages(where="basis"))]
package_dir = {"basis": "basis"}
for layer in LAYERS:
    package_dir[f"basis.{layer}"] = layer
    packages.append(f"basis.{layer}")
    find = find_namespace_packages if layer in DATA_LAYERS else find_packages
    packages += [f"basis.{layer}.{p}" for p in find(where=layer, exclude=["__pycache__", "*.__pycache__"])]

setup(packages=packages, package_dir=package_dir)
