"""Build configuration that pyproject.toml cannot say: the repository's top-level folders
(engine/, state/, console/, themes/) install as packages of one ``flowdeck`` namespace.

Metadata, dependencies and the package data of code packages are in pyproject.toml.
"""

from setuptools import find_namespace_packages, find_packages, setup

# repository folders installed as flowdeck.<folder>
ROOTS = ("engine", "state", "console", "themes")
# the project templates of `flowdeck init`: folders of data files, shipped whole
TEMPLATES = find_namespace_packages(include=["engine.operations.templates.*"])

setup(
    packages=[f"flowdeck.{package}" for package in (*find_packages(include=[f"{root}*" for root in ROOTS]), *TEMPLATES)],
    package_dir={f"flowdeck.{root}": root for root in ROOTS},
    package_data={f"flowdeck.{package}": ["*"] for package in TEMPLATES},
)
