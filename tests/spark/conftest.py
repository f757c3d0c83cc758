"""Fixtures of the Spark tests: the example project in a temporary folder, and ONE local Spark.

The Spark driver (local[2], Spark Connect on 127.0.0.1, UI off, fresh warehouse) starts once
per test process; every backend opens its own Connect session on it. The tests that need it
are marked ``spark`` (deselect with ``-m "not spark"``) and share one xdist group, so one
worker runs them while the others run the rest of the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_example_project

REPO = Path(__file__).resolve().parents[2]
SPARK_SETTINGS = "\nengine: duckdb\nspark:\n  master: local[2]\n  driver_memory: 1g\n"


def copy_example(target: Path) -> Path:
    """The bundled example project, copied to ``target`` (runtime files excluded), set up for local[2]."""
    copy_example_project(target)
    with open(target / "flowdeck.yaml", "a", encoding="utf-8") as handle:
        handle.write(SPARK_SETTINGS)
    return target


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    """A private copy of the example project."""
    return copy_example(tmp_path / "project")


@pytest.fixture(scope="session")
def local_spark():
    """The one Spark driver of this test process (started on first use, stopped at exit)."""
    from flowdeck.engine.backends.spark.session import local_server
    from flowdeck.engine.project.config.spark import SparkConfig

    return local_server(SparkConfig(master="local[2]"))

