"""An environment's name is the one way to its warehouse file: an identifier under envs/, never a path."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdeck.engine.errors import ConfigError
from flowdeck.engine.project.project import PROD, Project


def test_prod_is_the_configured_warehouse_and_another_environment_has_its_own_file(project: Path) -> None:
    prod = Project.load(project)
    dev = prod.in_environment("dev")
    assert prod.environment == PROD and dev.environment == "dev"
    assert dev.warehouse_path != prod.warehouse_path
    assert dev.warehouse_path.parent == prod.runtime_dir / "envs" / "dev"
    assert dev.warehouse_path.name == prod.warehouse_path.name
    assert dev.prod_warehouse_path == prod.warehouse_path
    assert dev.ledger_path == prod.ledger_path  # environments share the ledger
    assert dev.in_environment(PROD).warehouse_path == prod.warehouse_path


@pytest.mark.parametrize("name", ["../prod", "/tmp/x", "dev/..", "", "a b", "dev\n", "..", "1dev"])
def test_an_environment_name_that_is_not_an_identifier_is_refused_before_it_becomes_a_path(
    project: Path, name: str
) -> None:
    with pytest.raises(ConfigError, match="not an environment name"):
        Project.load(project).in_environment(name)
