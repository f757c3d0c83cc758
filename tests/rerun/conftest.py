"""Fixtures for the rerun-safety tests: real copies of the example project in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowdeck.engine.workspace import Workspace
from tests.rerun.helpers import copy_example


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the bundled example project, with an empty landing folder."""
    return copy_example(tmp_path / "project")


@pytest.fixture
def workspace(project: Path) -> Iterator[Workspace]:
    """The example project opened through the client API."""
    ws = Workspace.open(project)
    yield ws
    ws.close()


@pytest.fixture(autouse=True)
def _fresh_fault_counts() -> None:
    """Injected failures count per process; each test starts from none."""
    from flowdeck.engine import debug_hooks

    debug_hooks.reset()
