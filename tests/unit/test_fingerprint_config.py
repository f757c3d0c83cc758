"""The configuration part of a step's fingerprint: the step's own settings as canonical JSON, the same whether
they are dumped through the pipeline's model (as a run does, reusing its serializer) or the step's own model."""

from __future__ import annotations

import json
from pathlib import Path

from flowdeck.engine.plan.fingerprint import METADATA_FIELDS, step_parts
from flowdeck.engine.plan.planner import build_plan
from flowdeck.engine.project.project import Project
from flowdeck.state import Ledger

# every built-in kind, with settings of each shape: nested models, lists, unions, durations, defaults changed
VARIED = """\
description: every kind of step, with settings of each shape
params:
  day: {type: date, default: "2026-11-01"}
steps:
  - name: raw
    kind: extract
    description: "metadata, not part of the fingerprint"
    retries: {attempts: 3}
    source:
      path: data/sample/orders.csv
      options: {header: true, all_varchar: true}
  - name: kept
    kind: transform
    sql: kept.sql
    materialized: incremental
    unique_key: [order_id]
    on_duplicate: update
    order_by: [order_id]
    tags: [daily, core]
    checks:
      - not_null: [order_id]
      - unique: order_id
      - accepted_values: {column: quantity, values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}
  - name: kept_checked
    kind: check
    table: kept
    checks:
      - row_count: {min: 1}
  - name: summary
    kind: transform
    sql: summary.sql
    materialized: view
  - name: export
    kind: load
    table: kept
    to: {path: exports/kept.csv, format: csv}
"""


def own_dump(config: object) -> str:
    """The configuration component as the step's own model dumps it."""
    dumped = config.model_dump(mode="json", exclude=set(METADATA_FIELDS), exclude_defaults=True)  # type: ignore[attr-defined]
    return json.dumps(dumped, sort_keys=True, separators=(",", ":"))


def test_a_steps_configuration_is_dumped_as_its_own_model_dumps_it(project: Path) -> None:
    (project / "pipelines" / "varied").mkdir()
    (project / "pipelines" / "varied" / "pipeline.yaml").write_text(VARIED)
    (project / "pipelines" / "varied" / "kept.sql").write_text(
        "SELECT order_id, CAST(quantity AS INTEGER) AS quantity FROM raw\n")
    (project / "pipelines" / "varied" / "summary.sql").write_text("SELECT count(*) AS orders FROM kept\n")
    loaded = Project.load(project)
    loaded.ensure_runtime_dirs()
    ledger = Ledger(loaded.ledger_path)
    try:
        compared = 0
        for name in loaded.pipeline_names():
            plan = build_plan(loaded, name)
            for step in plan.steps.values():
                parts = step_parts(loaded, ledger, plan, step, {"day": "2026-11-01"}, "duckdb")
                assert parts.config == own_dump(step.config), step.name
                compared += 1
    finally:
        ledger.close()
    assert compared >= 12  # the example's pipelines and every kind above
    assert "metadata" not in own_dump(build_plan(loaded, "varied").steps["raw"].config)
