"""Packaging beyond what pyproject.toml can say: the repository's top-level spaces/ and examples/
folders install as eqnas/_shipped/spaces and eqnas/_shipped/examples (their globs are in
pyproject.toml's package-data), so an installed eqnas finds them by name (eqnas/catalog.py).
pyproject.toml's package discovery cannot add packages from other folders, hence this file."""
from setuptools import find_packages, setup

SHIPPED = {"eqnas._shipped.spaces": "spaces", "eqnas._shipped.examples": "examples"}

setup(packages=[*find_packages(include=["eqnas", "eqnas.*"]), *SHIPPED], package_dir=SHIPPED)
