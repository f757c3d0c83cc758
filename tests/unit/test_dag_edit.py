"""DAG editing of pipeline.yaml (engine/operations/dag_edit.py): every change keeps the other bytes of the
file (comments, quoting, blank lines, indentation), is validated by the project's own planning, and is
written only on save, through the workspace's atomic write."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.operations.dag_edit import DagSession, add_step, remove_step, rename_step, set_depends_on
from flowdeck.engine.workspace import Workspace

# Two-space steps with four-space keys, comments at odd columns, quoted values, a flow list, a
# block list: what the editor must not touch.
PIPELINE = """\
# the orders pipeline   (a header comment)
description: "Orders, cleaned"

steps:
  # raw feed, read as text
  - name: feed_orders
    kind: extract
    source:
      path: 'data/sample/orders.csv'
      options: {header: true, all_varchar: true}     # the feed is dirty

  - name: orders_clean        # typed
    kind: transform
    sql: orders_clean.sql

  - name: clean_check
    kind: check
    table: orders_clean
    depends_on:
      - orders_clean   # explicit
    checks:
      - row_count: {min: 1}

# trailing comment after the steps
"""

ORDERS_CLEAN = "SELECT CAST(order_id AS INTEGER) AS order_id FROM feed_orders\n"


@pytest.fixture
def dag_project(project: Path) -> Path:
    """The example project with one more pipeline, `orders`, written as PIPELINE."""
    folder = project / "pipelines" / "orders"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text(PIPELINE)
    (folder / "orders_clean.sql").write_text(ORDERS_CLEAN)
    return project


@pytest.fixture
def session(dag_project: Path) -> DagSession:
    ws = Workspace.open(dag_project)
    return DagSession(ws.project, "orders")


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines removed from ``before`` and added in ``after`` (everything else is equal, byte for byte)."""
    removed, added = [], []
    matcher = difflib.SequenceMatcher(a=before.splitlines(keepends=True), b=after.splitlines(keepends=True),
                                      autojunk=False)
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag != "equal":
            removed += matcher.a[a1:a2]
            added += matcher.b[b1:b2]
    return removed, added


def test_adding_a_step_appends_its_lines_and_a_sql_file_from_the_template() -> None:
    edit = add_step(PIPELINE, "orders_by_day", "transform", reads="orders_clean")
    # inserted after the last step, before the comment that follows the steps; nothing else changes
    block = "\n  - name: orders_by_day\n    kind: transform\n    sql: orders_by_day.sql\n"
    end = PIPELINE.index("\n# trailing comment")
    assert edit.text == PIPELINE[:end] + block + PIPELINE[end:]
    assert edit.files == {"orders_by_day.sql": "-- orders_by_day: a new step; replace this query with the step's "
                                                "own.\nSELECT *\nFROM orders_clean\n"}


def test_renaming_a_step_changes_its_name_and_the_depends_on_naming_it_and_keeps_its_table_and_sql() -> None:
    edit = rename_step(PIPELINE, "orders_clean", "orders_typed")
    removed, added = changed_lines(PIPELINE, edit.text)
    assert removed == ["  - name: orders_clean        # typed\n", "      - orders_clean   # explicit\n"]
    assert added == ["  - name: orders_typed        # typed\n", "    output: orders_clean\n",
                     "      - orders_typed   # explicit\n"]


def test_renaming_with_the_sql_file_writes_it_under_the_new_name() -> None:
    edit = rename_step(PIPELINE, "orders_clean", "orders_typed", sql_text=ORDERS_CLEAN, rename_sql_file=True)
    assert "    sql: orders_typed.sql\n" in edit.text and "orders_clean.sql" not in edit.text
    assert edit.files == {"orders_typed.sql": ORDERS_CLEAN}


def test_removing_a_step_removes_its_lines_and_the_comment_above_it_only() -> None:
    edit = remove_step(PIPELINE, "clean_check")
    assert edit.text == PIPELINE.replace("\n  - name: clean_check\n    kind: check\n    table: orders_clean\n    depends_on:\n"
                                "      - orders_clean   # explicit\n    checks:\n      - row_count: {min: 1}\n", "")
    assert edit.text.endswith("    sql: orders_clean.sql\n\n# trailing comment after the steps\n")
    commented = PIPELINE.replace("    sql: orders_clean.sql\n", "    sql: orders_clean.sql\n    # typed by hand\n")
    assert remove_step(commented, "orders_clean").text == PIPELINE.replace(
        "  - name: orders_clean        # typed\n    kind: transform\n    sql: orders_clean.sql\n\n", "")
    first = remove_step(PIPELINE, "feed_orders").text
    assert "# raw feed" not in first and first.startswith(PIPELINE.split("  # raw feed")[0] + "  - name: orders_clean")


def test_setting_depends_on_replaces_a_block_list_or_adds_a_flow_list() -> None:
    replaced = set_depends_on(PIPELINE, "clean_check", ["orders_clean", "feed_orders"])
    assert changed_lines(PIPELINE, replaced.text) == (
        ["    depends_on:\n", "      - orders_clean   # explicit\n"],
        ["    depends_on: [orders_clean, feed_orders]\n"])
    added = set_depends_on(PIPELINE, "orders_clean", ["feed_orders"])
    assert changed_lines(PIPELINE, added.text) == ([], ["    depends_on: [feed_orders]\n"])
    assert "    kind: transform\n    depends_on: [feed_orders]\n    sql: orders_clean.sql\n" in added.text
    cleared = set_depends_on(PIPELINE, "clean_check", [])
    assert changed_lines(PIPELINE, cleared.text) == (["    depends_on:\n", "      - orders_clean   # explicit\n"], [])


@pytest.mark.parametrize("change, words", [
    (lambda s: s.set_depends_on("feed_orders", ["clean_check"]), "cycle"),
    (lambda s: s.set_depends_on("orders_clean", ["feed_ordres"]), "depends on `feed_ordres`, which is not a step"),
    (lambda s: s.rename_step("orders_clean", "feed_orders"), "two steps are named `feed_orders`"),
    (lambda s: s.add_step("orders_clean", "transform", reads="feed_orders"), "two steps are named `orders_clean`"),
    (lambda s: s.remove_step("feed_orders"), "reads table `feed_orders`, which no step produces"),
    (lambda s: s.add_step("2bad", "transform", reads="feed_orders"), "not a valid step name"),
    (lambda s: s.add_step("scores", "python", reads="feed_orders"), "the editor does not add python steps"),
    (lambda s: s.add_step("scores", "pyhton", reads="feed_orders"), "unknown step kind `pyhton`"),
    (lambda s: s.remove_step("nope"), "no step named `nope`"),
])
def test_a_change_that_makes_the_pipeline_invalid_is_refused_and_nothing_changes(session: DagSession, change,
                                                                                  words: str) -> None:
    on_disk = session.path.read_text()
    with pytest.raises(FlowdeckError) as refused:
        change(session)
    assert words in refused.value.what
    assert not session.dirty and session.current.text == PIPELINE
    assert session.path.read_text() == on_disk
    assert sorted(p.name for p in session.folder.iterdir()) == ["orders_clean.sql", "pipeline.yaml"]


def test_a_refusal_points_at_the_line_of_the_project_file(session: DagSession) -> None:
    with pytest.raises(FlowdeckError) as refused:
        session.set_depends_on("orders_clean", ["feed_ordres"])
    location = refused.value.location
    assert location is not None and location.path == session.path and location.line == 14


def test_undo_takes_back_the_last_change_only(session: DagSession) -> None:
    session.add_step("orders_by_day", "transform", reads="orders_clean")
    session.set_depends_on("orders_by_day", ["clean_check"])
    assert session.undo() == "`orders_by_day` depends on clean_check"
    assert "orders_by_day" in session.current.text and "depends_on: [clean_check]" not in session.current.text
    assert session.current.plan is not None and "orders_by_day" in session.current.plan.steps
    assert session.undo() == "added transform step `orders_by_day`"
    assert session.current.text == PIPELINE and session.undo() is None


def test_save_writes_the_sql_file_and_pipeline_yaml_and_the_cli_validates_it(dag_project: Path, flowdeck) -> None:
    ws = Workspace.open(dag_project)
    session = ws.dag_session("orders")
    session.add_step("orders_by_day", "transform", reads="orders_clean")
    session.rename_step("clean_check", "orders_checked")
    assert session.path.read_text() == PIPELINE  # pending until saved
    written = ws.save_dag(session)
    assert [path.name for path in written] == ["orders_by_day.sql", "pipeline.yaml"]
    text = session.path.read_text()
    assert text.startswith("# the orders pipeline   (a header comment)\n") and "# trailing comment" in text
    assert "  - name: orders_checked\n" in text and not session.dirty
    result = flowdeck("validate", "orders")
    assert result.returncode == 0, result
    assert [entry.action for entry in ws.audit_entries(limit=2)] == ["edit", "edit"]
    ws.close()


def test_save_is_refused_when_pipeline_yaml_changed_on_disk_since_it_was_read(session: DagSession) -> None:
    session.add_step("orders_by_day", "transform", reads="orders_clean")
    session.path.write_text(PIPELINE + "# edited elsewhere\n")
    with pytest.raises(FlowdeckError) as refused:
        session.save(lambda relative, text: pytest.fail("nothing may be written"))
    assert "changed on disk" in refused.value.what
    assert session.path.read_text().endswith("# edited elsewhere\n")
    assert not (session.folder / "orders_by_day.sql").exists()
