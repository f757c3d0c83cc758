"""Planning: dependencies inferred from SQL, a valid order, and every DAG problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdeck.engine.errors import ConfigError, PlanError
from flowdeck.engine.plan.planner import build_plan
from flowdeck.engine.project.project import Project
from tests.conftest import copy_example_project


def _project(tmp_path: Path, steps: dict[str, str], extra_yaml: str = "") -> Project:
    """A project with one pipeline `p` whose transform steps have the given SQL."""
    root = tmp_path / "proj"
    folder = root / "pipelines" / "p"
    folder.mkdir(parents=True)
    (root / "flowdeck.yaml").write_text("name: t\n")
    lines = ["steps:", "  - name: src", "    kind: extract", "    source: {path: data/src.csv}"]
    for name, sql in steps.items():
        (folder / f"{name}.sql").write_text(sql)
        lines += [f"  - name: {name}", "    kind: transform"]
    (folder / "pipeline.yaml").write_text("\n".join(lines) + "\n" + extra_yaml)
    return Project.load(root)


def test_example_plan_infers_the_documented_dag(tmp_path: Path) -> None:
    plan = build_plan(Project.load(copy_example_project(tmp_path / "p")), "daily_sales")
    upstream = {name: step.upstream for name, step in plan.steps.items()}
    assert upstream == {
        "raw_orders": set(), "raw_customers": set(), "raw_products": set(),
        "orders_clean": {"raw_orders"},
        "sales": {"orders_clean", "raw_customers", "raw_products"},
        "daily_sales": {"sales"},
        "check_orders_reference_customers": {"orders_clean", "raw_customers"},
        "export_daily_sales": {"daily_sales"},
    }
    position = {name: index for index, name in enumerate(plan.order)}
    assert all(position[up] < position[name] for name, ups in upstream.items() for up in ups)
    assert plan.downstream_of("orders_clean") == {"orders_clean", "sales", "daily_sales",
                                                  "check_orders_reference_customers", "export_daily_sales"}


def test_ctes_and_table_functions_are_not_dependencies(tmp_path: Path) -> None:
    plan = build_plan(_project(tmp_path, {
        "a": "WITH src AS (SELECT 1 AS x) SELECT * FROM src",  # a CTE shadowing the step `src`
        "b": "SELECT * FROM read_csv('data/other.csv')",
    }), "p")
    assert plan.steps["a"].upstream == set() and plan.steps["b"].upstream == set()


def test_depends_on_adds_an_edge_the_sql_does_not_show(tmp_path: Path) -> None:
    project = _project(tmp_path, {"a": "SELECT * FROM src", "b": "SELECT 1 AS one"})
    pipeline = project.pipelines_dir / "p" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("  - name: b\n    kind: transform", "  - name: b\n    kind: transform\n    depends_on: [a]"))
    plan = build_plan(Project.load(project.root), "p")
    assert plan.steps["b"].upstream == {"a"}
    assert plan.order.index("a") < plan.order.index("b")


def test_depends_on_an_unknown_step_suggests_the_nearest(tmp_path: Path) -> None:
    project = _project(tmp_path, {"alpha": "SELECT 1 AS x", "b": "SELECT 1 AS one"})
    pipeline = project.pipelines_dir / "p" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("  - name: b\n    kind: transform", "  - name: b\n    kind: transform\n    depends_on: [alpah]"))
    with pytest.raises(ConfigError) as caught:
        build_plan(Project.load(project.root), "p")
    assert "depends on `alpah`, which is not a step" in caught.value.what and caught.value.hint == "did you mean `alpha`?"


def test_cycle_is_an_error_naming_its_steps(tmp_path: Path) -> None:
    project = _project(tmp_path, {"a": "SELECT * FROM c", "b": "SELECT * FROM a", "c": "SELECT * FROM b"})
    with pytest.raises(PlanError) as caught:
        build_plan(project, "p")
    cycle = caught.value.what.split("cycle: ")[1].split(" -> ")
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}


def test_unknown_table_points_into_the_sql_file(tmp_path: Path) -> None:
    project = _project(tmp_path, {"a": "SELECT *\nFROM srcc"})
    with pytest.raises(PlanError) as caught:
        build_plan(project, "p")
    error = caught.value
    assert error.what == "step `a` reads table `srcc`, which no step produces"
    assert error.hint == "did you mean `src`?"
    assert (error.location.path.name, error.location.line, error.location.column) == ("a.sql", 2, 6)


def test_a_table_published_by_another_pipeline_may_be_read(tmp_path: Path) -> None:
    project = _project(tmp_path, {"a": "SELECT * FROM other_output"})
    other = project.pipelines_dir / "other"
    other.mkdir()
    (other / "other_output.sql").write_text("SELECT 1 AS x")
    (other / "pipeline.yaml").write_text("steps:\n  - name: other_output\n    kind: transform\n")
    plan = build_plan(Project.load(project.root), "p")
    assert plan.steps["a"].upstream == set()


def test_two_steps_writing_one_table_is_an_error(tmp_path: Path) -> None:
    project = _project(tmp_path, {"a": "SELECT 1 AS x"})
    pipeline = project.pipelines_dir / "p" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text() + "    output: src\n")
    with pytest.raises(ConfigError, match="steps `src` and `a` both write table `src`"):
        build_plan(Project.load(project.root), "p")


def test_path_parameter_must_be_declared(tmp_path: Path) -> None:
    project = _project(tmp_path, {})
    pipeline = project.pipelines_dir / "p" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("{path: data/src.csv}", "{path: 'data/{day}/src.csv'}"))
    with pytest.raises(ConfigError) as caught:
        build_plan(Project.load(project.root), "p")
    assert "`{day}` in this path is not a parameter" in caught.value.what and caught.value.location.line == 4


def test_planning_remembers_analyses_in_the_runtime_folder(tmp_path: Path) -> None:
    project = _project(tmp_path, {"a": "SELECT * FROM src"})
    build_plan(project, "p")
    cache = project.cache_dir / "sql-analysis.json"
    assert cache.is_file()
    assert project.runtime_dir.stat().st_mode & 0o077 == 0  # created private, like every runtime folder
