"""Build configuration that pyproject.toml cannot say: the repository's top-level folders
(engine/, state/, console/, themes/) install as packages of one ``flowdeck`` namespace, with
their data files.

Metadata and dependencies are in pyproject.toml. The package data is all here, in one place:
a ``[tool.setuptools.package-data]`` table in pyproject.toml would replace this one, not add to it.
"""

from setuptools import find_namespace_packages, find_packages, setup

# repository folders installed as flowdeck.<folder>
ROOTS = ("engine", "state", "console", "themes")
# data files of the code packages: SQL, the console's styles, themes, settings, function lists
CODE_DATA = ["*.sql", "*.tcss", "*.yaml", "*.toml", "*.json", "*.txt"]
# the project templates of `flowdeck init`: folders of data files (sample CSV, Parquet, SQLite), shipped whole
TEMPLATES = find_namespace_packages(include=["engine.operations.templates.*"])

setup(
    packages=[f"flowdeck.{package}" for package in (*find_packages(include=[f"{root}*" for root in ROOTS]), *TEMPLATES)],
    package_dir={f"flowdeck.{root}": root for root in ROOTS},
    package_data={"": CODE_DATA, **{f"flowdeck.{package}": ["*"] for package in TEMPLATES}},
)
