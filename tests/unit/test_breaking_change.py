"""A change of a step's SQL is breaking when a column someone downstream reads goes away or changes type,
and the classifier names who reads it: steps and checks, through the steps that pass the column on."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdeck.engine.plan.breaking import SqlChange, classify_change
from flowdeck.engine.plan.planner import build_plan
from flowdeck.engine.project.project import Project
from flowdeck.engine.steps.source_columns import check_columns
from tests.conftest import copy_example_project


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example_project(tmp_path / "project")


def _change(root: Path, step: str, edit: tuple[str, str]) -> SqlChange:
    """Edit ``step``'s SQL file (old text → new text) and classify the change against the file as it was."""
    path = root / "pipelines" / "daily_sales" / f"{step}.sql"
    previous = path.read_text()
    assert edit[0] in previous
    path.write_text(previous.replace(*edit))
    project = Project.load(root)
    plan = build_plan(project, "daily_sales")
    return classify_change(plan, step, previous, check_columns(project, plan), project.analysis_cache)


def test_removing_a_column_names_the_downstream_steps_and_checks_that_read_it(example: Path) -> None:
    change = _change(example, "orders_clean", ("        lower(trim(status))                     AS status,\n", ""))
    assert (change.kind, change.removed, change.added, change.retyped) == ("breaking", ("status",), (), ())
    assert set(change.readers) == {
        ("orders_clean.accepted_values(status)", "status"),  # the step's own check
        ("sales", "status"),  # reads it directly
        ("daily_sales", "status"),  # reads sales.status, which sales passes on from orders_clean
    }


def test_retyping_a_column_read_by_a_check_step_is_breaking(example: Path) -> None:
    change = _change(example, "orders_clean", ("TRY_CAST(customer_id AS INTEGER)", "TRY_CAST(customer_id AS VARCHAR)"))
    assert change.kind == "breaking" and change.retyped == ("customer_id",) and change.removed == ()
    readers = {reader for reader, column in change.readers if column == "customer_id"}
    assert "check_orders_reference_customers.relationships(customer_id -> raw_customers.customer_id)" in readers
    assert "sales" in readers


def test_adding_a_column_is_non_breaking(example: Path) -> None:
    change = _change(example, "sales", ("o.quantity * p.unit_price AS amount", "o.quantity * p.unit_price AS amount,\n    p.name"))
    assert change == SqlChange(kind="non-breaking", added=("name",))


def test_a_filter_change_is_non_breaking(example: Path) -> None:
    change = _change(example, "daily_sales", ("'paid', 'shipped', 'delivered'", "'paid'"))
    assert change == SqlChange(kind="non-breaking")


def test_removing_a_column_nobody_reads_is_non_breaking(example: Path) -> None:
    change = _change(example, "sales", ("    c.segment,\n", ""))
    assert change == SqlChange(kind="non-breaking", removed=("segment",))


def test_renaming_a_column_read_downstream_is_breaking_and_shows_as_removed_and_added(example: Path) -> None:
    change = _change(example, "sales", ("AS amount", "AS line_amount"))
    assert (change.kind, change.removed, change.added) == ("breaking", ("amount",), ("line_amount",))
    # daily_sales sums it into revenue, which its check reads
    assert change.readers == (("daily_sales", "amount"), ("daily_sales.revenue_not_negative", "amount"))
    assert change.describe().startswith("breaking: removed amount; added line_amount; read by daily_sales (amount)")
