"""The console's editor checks a pipeline's SQL the way `flowdeck validate` does, columns included."""

from __future__ import annotations

from pathlib import Path

from flowdeck.engine.project.project import Project
from flowdeck.engine.workspace import Workspace
from tests.conftest import copy_example_project


def test_the_editor_reports_a_misspelt_column_of_the_text_being_typed(tmp_path: Path) -> None:
    root = copy_example_project(tmp_path / "project")
    workspace = Workspace(Project.load(root))
    path = root / "pipelines" / "daily_sales" / "daily_sales.sql"
    typed = path.read_text().replace("sum(amount)", "sum(amout)")
    problems = workspace.check_file(path, typed)
    assert [(problem.location.line, problem.location.column, problem.hint) for problem in problems
            if problem.location is not None] == [(8, 9, "did you mean `amount`?")]
    assert workspace.check_file(path, path.read_text()) == []  # the file on disk is fine
    assert "amout" not in path.read_text()  # checking saved nothing
