"""The assistant's engine: answers become commented, valid pipeline files, checked before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flowdeck.engine.operations.assistant import (
    AnswerError,
    PipelineAnswers,
    answer_problems,
    draft_pipeline,
    render,
    source_columns,
    validate_draft,
)
from flowdeck.engine.workspace import Workspace
from flowdeck.engine.errors import Forbidden
from flowdeck.engine.project.config.pipeline import PipelineConfig
from flowdeck.engine.project.project import Project
from flowdeck.engine.operations.scaffold import init_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.load(init_project(tmp_path / "p", "files_to_tables").root)


def _answers(**changes: object) -> PipelineAnswers:
    base = PipelineAnswers(name="orders_daily", source="data/incoming/orders/*.csv", when="cron", cron="0 6 * * *",
                           timezone="Europe/Paris", not_null=["order_id"], unique=["order_id", "status"], min_rows=1,
                           export="exports/orders_daily.parquet")
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def _config(answers: PipelineAnswers) -> PipelineConfig:
    draft = render(answers)
    return PipelineConfig.model_validate(yaml.safe_load(draft.files[draft.pipeline_file]))


def test_answers_become_the_steps_schedule_and_checks_they_describe() -> None:
    config = _config(_answers())
    assert [step.name for step in config.steps] == ["raw_orders_daily", "orders_daily", "export_orders_daily"]
    extract, transform, load = config.steps
    assert extract.source.path == "data/incoming/orders/*.csv"  # type: ignore[union-attr]
    assert config.schedule is not None and (config.schedule.cron, config.schedule.timezone) == ("0 6 * * *", "Europe/Paris")
    assert [(check.kind, getattr(check, check.kind)) for check in transform.checks] == [
        ("not_null", ["order_id"]), ("unique", ["order_id", "status"]), ("row_count", transform.checks[2].row_count)]
    assert transform.checks[2].row_count is not None and transform.checks[2].row_count.min == 1
    assert load.to.path == "exports/orders_daily.parquet"  # type: ignore[union-attr]


@pytest.mark.parametrize(("when", "extra", "expect"), [
    ("interval", {"interval": "15m"}, lambda c: c.schedule.interval.total_seconds() == 900),
    ("files", {"watch": "landing/orders", "patterns": ["*.csv"], "settle": "10s", "archive": "archive/orders"},
     lambda c: (c.triggers[0].folder, c.triggers[0].patterns, c.triggers[0].settle.total_seconds(),
                c.triggers[0].archive) == ("landing/orders", ["*.csv"], 10, "archive/orders")),
    ("none", {}, lambda c: c.schedule is None and not c.triggers),
])
def test_every_way_of_starting_a_pipeline_is_written_as_its_config(when: str, extra: dict[str, object],
                                                                   expect: object) -> None:
    config = _config(_answers(when=when, cron=None, **extra))
    assert expect(config)  # type: ignore[operator]


def test_generated_yaml_explains_the_keys_a_beginner_touches() -> None:
    draft = render(_answers())
    text = draft.files[draft.pipeline_file]
    for key in ("kind: extract", "cron:", "timezone:", "checks:", "kind: load"):
        line = next(line for line in text.splitlines() if key in line)
        assert "#" in line, f"no comment on {line!r}"
    assert draft.files["pipelines/orders_daily/orders_daily.sql"].rstrip().endswith("FROM raw_orders_daily")


@pytest.mark.parametrize("value", ['data/my files/*.csv', "data/a: b.csv", 'data/"q".csv', "data/#x.csv", "yes", "0123"])
def test_any_path_reads_back_as_itself(value: str) -> None:
    config = _config(_answers(source=value, when="none", not_null=[], unique=[], min_rows=None))
    assert config.steps[0].source.path == value  # type: ignore[union-attr]


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"name": "1st"}, "name", "not starting with a digit"),
    ({"cron": "0 6 * *"}, "cron", "cron"),
    ({"cron": "0 24 * * *"}, "cron", "maximum value (23)"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
    ({"when": "interval", "interval": "1.5s"}, "interval", "whole number of seconds"),
    ({"when": "files", "watch": None}, "watch", "folder to watch"),
    ({"export": "exports/orders.xlsx"}, "export", ".parquet or .csv"),
    ({"export": "../outside.csv"}, "export", "inside the project"),
    ({"source": ""}, "source", "an answer is needed"),
    ({"when": "sometimes"}, "when", "one of cron, interval, files, none"),
    ({"not_null": ["order id"]}, "not_null", "not a column name"),
])
def test_each_wrong_answer_is_named_with_why(changes: dict[str, object], field: str, words: str) -> None:
    problems = answer_problems(_answers(**changes))
    assert field in problems and words in problems[field], problems
    with pytest.raises(AnswerError) as caught:
        render(_answers(**changes))
    assert caught.value.field in problems


def test_validation_runs_on_a_scratch_copy_and_points_at_the_real_files(project: Project) -> None:
    before = sorted(path.relative_to(project.root) for path in project.root.rglob("*"))
    assert validate_draft(project, render(_answers())) == []
    broken = render(_answers())
    sql = "pipelines/orders_daily/orders_daily.sql"
    broken.files[sql] = "SELECT * FROM raw_orders_dialy\n"
    problems = validate_draft(project, broken)
    assert len(problems) == 1
    assert "reads table `raw_orders_dialy`, which no step produces" in problems[0].what
    assert problems[0].location is not None and problems[0].location.path == project.root / sql
    after = sorted(path.relative_to(project.root) for path in project.root.rglob("*") if ".flowdeck" not in path.parts)
    assert after == [path for path in before if ".flowdeck" not in path.parts]


def test_a_table_another_pipeline_publishes_is_refused(project: Project) -> None:
    problems = validate_draft(project, render(_answers(table="customers")))
    assert [problem.what for problem in problems] == [
        "another pipeline of the project already publishes the table `raw_customers`",
        "another pipeline of the project already publishes the table `customers`"]
    assert problems[1].location is not None and problems[1].location.key == "steps[1].name"


def test_checks_must_name_columns_the_source_has(project: Project) -> None:
    assert source_columns(project, _answers()) == ["order_id", "customer_id", "product_id", "quantity", "order_date",
                                                   "status"]
    assert source_columns(project, _answers(source="data/nothing/*.csv")) is None
    with pytest.raises(AnswerError) as caught:
        draft_pipeline(project, _answers(unique=["orderid"]))
    assert caught.value.field == "unique" and "its columns: order_id" in caught.value.what


def test_workspace_writes_only_a_valid_pipeline_and_audits_it(project: Project) -> None:
    workspace = Workspace.open(project.root)
    try:
        written = workspace.create_pipeline(_answers())
        assert [path.relative_to(project.root).as_posix() for path in written] == [
            "pipelines/orders_daily/pipeline.yaml", "pipelines/orders_daily/orders_daily.sql"]
        assert workspace.plan("orders_daily").order == ["raw_orders_daily", "orders_daily", "export_orders_daily"]
        assert {entry.target for entry in workspace.audit_entries(action="edit")} == {
            "pipelines/orders_daily/pipeline.yaml", "pipelines/orders_daily/orders_daily.sql"}
        with pytest.raises(AnswerError):
            workspace.create_pipeline(_answers(name="other", cron="99 * * * *"))
        assert not (project.pipelines_dir / "other").exists()
    finally:
        workspace.close()


def test_a_viewer_cannot_create_a_pipeline(project: Project) -> None:
    project_file = project.root / "flowdeck.yaml"
    project_file.write_text(project_file.read_text() + "\nroles:\n  admins: [someone_else]\n")
    workspace = Workspace.open(project.root)
    try:
        with pytest.raises(Forbidden, match="needs the admin role"):
            workspace.create_pipeline(_answers())
    finally:
        workspace.close()
    assert not (project.pipelines_dir / "orders_daily").exists()
