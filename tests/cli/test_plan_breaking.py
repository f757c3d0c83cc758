"""`flowdeck plan` classifies a transform's changed query: breaking, naming who reads what it removes, or not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult


def test_plan_names_the_readers_of_a_removed_column_and_calls_an_added_one_non_breaking(
        project: Path, flowdeck: Callable[..., CliResult]) -> None:
    assert flowdeck("run", "daily_sales").returncode == 0
    folder = project / "pipelines" / "daily_sales"
    orders_clean = folder / "orders_clean.sql"
    orders_clean.write_text(orders_clean.read_text().replace("        lower(trim(status))                     AS status,\n", ""))
    sales = folder / "sales.sql"
    sales.write_text(sales.read_text().replace("o.quantity * p.unit_price AS amount", "o.quantity * p.unit_price AS amount,\n    p.name"))

    shown = flowdeck("plan", "daily_sales")
    assert shown.returncode == 0, shown
    assert ("SQL changed (breaking: removed status; read by orders_clean.accepted_values(status) (status), "
            "sales (status), daily_sales (status))") in " ".join(shown.stdout.split())

    steps = {step["step"]: step for step in flowdeck("plan", "daily_sales", "--json").json()["steps"]}
    assert steps["orders_clean"]["sql_change"] == {
        "kind": "breaking", "removed": ["status"], "added": [], "retyped": [],
        "readers": [{"reader": "orders_clean.accepted_values(status)", "column": "status"},
                    {"reader": "sales", "column": "status"}, {"reader": "daily_sales", "column": "status"}]}
    assert steps["sales"]["sql_change"] == {"kind": "non-breaking", "removed": [], "added": ["name"], "retyped": [],
                                            "readers": []}
    assert steps["daily_sales"]["sql_change"] is None  # its own query did not change: it only runs after sales
