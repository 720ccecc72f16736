"""Maps the top-level folders onto one import namespace: bus/ -> basis.bus, components/ -> basis.components, ...

Installing basis never puts a module called ``bus`` or ``components`` into site-packages.
"""

from setuptools import find_packages, setup

LAYERS = ("bus", "components", "venues", "projections", "configs", "data")

packages = ["basis", *(f"basis.{p}" for p in find_packages(where="basis"))]
package_dir = {"basis": "basis"}
for layer in LAYERS:
    package_dir[f"basis.{layer}"] = layer
    packages.append(f"basis.{layer}")
    packages += [f"basis.{layer}.{p}" for p in find_packages(where=layer)]

setup(packages=packages, package_dir=package_dir)
