"""`flowdeck init`: a template is a folder, and nothing existing is ever overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

import flowdeck.engine.operations.scaffold as scaffold
from flowdeck.engine.errors import FlowdeckError, NotFound
from flowdeck.engine.plan.planner import build_plan
from flowdeck.engine.project.project import Project
from flowdeck.engine.operations.scaffold import init_project, template_names


def test_minimal_template_writes_a_valid_project(tmp_path: Path) -> None:
    result = init_project(tmp_path / "new", "minimal")
    assert result.pipeline == "hello"
    written = {path.relative_to(result.root).as_posix() for path in result.files}
    assert written == {"flowdeck.yaml", "pipelines/hello/pipeline.yaml", "pipelines/hello/sales_by_city.sql",
                       "data/sales.csv"}
    assert len(result) == len(written)
    plan = build_plan(Project.load(result.root), "hello")
    assert plan.order == ["raw_sales", "sales_by_city", "export_sales_by_city"]


def test_init_into_an_existing_folder_keeps_its_other_files(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    target.mkdir()
    (target / "README.md").write_text("mine")
    init_project(target)
    assert (target / "README.md").read_text() == "mine" and (target / "flowdeck.yaml").is_file()


def test_init_refuses_to_overwrite_any_file_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    (target / "data").mkdir(parents=True)
    (target / "data" / "sales.csv").write_text("my data")
    with pytest.raises(FlowdeckError, match=r"already has files the template would overwrite: data/sales.csv"):
        init_project(target)
    assert sorted(path.relative_to(target).as_posix() for path in target.rglob("*")) == ["data", "data/sales.csv"]
    assert (target / "data" / "sales.csv").read_text() == "my data"


def test_init_refuses_a_file_as_the_project_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(FlowdeckError, match="is not a folder"):
        init_project(tmp_path / "file")


def test_unknown_template_lists_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as caught:
        init_project(tmp_path / "new", "enterprise")
    assert caught.value.hint is not None and "available templates: " + ", ".join(template_names()) in caught.value.hint


def test_adding_a_template_is_adding_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = tmp_path / "templates"
    (templates / "tiny" / "pipelines" / "only").mkdir(parents=True)
    (templates / "tiny" / "flowdeck.yaml").write_text("name: tiny\n")
    (templates / "tiny" / "pipelines" / "only" / "pipeline.yaml").write_text(
        "steps:\n  - name: one\n    kind: transform\n")
    (templates / "tiny" / "pipelines" / "only" / "one.sql").write_text("SELECT 1 AS one\n")
    monkeypatch.setattr(scaffold, "TEMPLATES_DIR", templates)
    assert template_names() == ["tiny"]
    result = init_project(tmp_path / "made", "tiny")
    assert result.pipeline == "only" and len(result) == 3
