"""Every project template runs green as generated, on the sample data it brings.

Each template is written by the real `flowdeck init`, validated and run with the real CLI;
the row counts it publishes are compared with counts computed here, in plain Python, from
the template's own sample files (never copied from a run).
"""

from __future__ import annotations

import csv
import os
import pty
import select
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from flowdeck.engine.project.project import Project
from flowdeck.engine.operations.scaffold import DEFAULT_TEMPLATE, TEMPLATES_DIR, template_names, templates
from tests.conftest import FLOWDECK, clean_env, ledger_rows, run_flowdeck, warehouse_rows


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _rows_of(paths: list[Path]) -> list[dict[str, str]]:
    return [row for path in sorted(paths) for row in _rows(path)]


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


# -- what each template's pipelines must publish, computed from its sample data -------------------------


def _minimal(root: Path) -> dict[str, int]:
    sales = _rows(root / "data/sales.csv")
    return {"raw_sales": len(sales), "sales_by_city": len({row["city"] for row in sales if float(row["amount"]) >= 0})}


def _files_to_tables(root: Path) -> dict[str, int]:
    customers = _rows(root / "data/incoming/customers.csv")
    orders = _rows_of(list((root / "data/incoming/orders").glob("*.csv")))
    valid = {row["order_id"] for row in orders
             if _is_int(row["order_id"]) and _is_int(row["quantity"]) and _is_date(row["order_date"])}
    return {"raw_customers": len(customers), "raw_orders": len(orders),
            "customers": len({row["customer_id"] for row in customers if row["customer_id"]}),
            "orders": len(valid)}


def _incremental_daily(root: Path) -> dict[str, int]:
    sales = _rows_of(list((root / "data/daily").glob("sales_*.csv")))
    return {"sales": len({row["sale_id"] for row in sales}),
            "revenue_per_day": len({(row["sold_at"][:10], row["store"]) for row in sales}),
            "landed_sales": len({(row["sale_id"], row["updated_at"]) for row in sales})}


def _file_triggered(root: Path) -> dict[str, int]:
    readings = _rows_of(list((root / "landing").glob("*.csv")))
    return {"readings": len({(row["meter_id"], row["read_at"]) for row in readings})}


def _data_quality(root: Path) -> dict[str, int]:
    return {}  # publishes views only; its checks are compared in their own test


def _database_export(root: Path) -> dict[str, int]:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(root / "data/shop.sqlite")) as db:  # read here directly, not through flowdeck
        orders = db.execute("SELECT count(*) FROM orders").fetchone()[0]
        customers = db.execute("SELECT count(*) FROM customers").fetchone()[0]
        joined = db.execute("SELECT count(*) FROM orders JOIN customers USING (customer_id)").fetchone()[0]
    return {"orders": orders, "customers": customers, "orders_export": joined}


EXPECTED: dict[str, Callable[[Path], dict[str, int]]] = {
    "minimal": _minimal,
    "files_to_tables": _files_to_tables,
    "incremental_daily": _incremental_daily,
    "file_triggered": _file_triggered,
    "data_quality": _data_quality,
    "database_export": _database_export,
}


def _init(tmp_path: Path, template: str) -> Path:
    root = tmp_path / template
    result = run_flowdeck("init", str(root), "--template", template, cwd=tmp_path)
    assert result.returncode == 0, result
    assert f"from the `{template}` template" in result.stdout
    return root


def _pipelines(root: Path) -> list[str]:
    return sorted(path.parent.name for path in (root / "pipelines").glob("*/pipeline.yaml"))


def _table_count(root: Path, table: str) -> int:
    return warehouse_rows(root, f'SELECT count(*) FROM "{table}"')[0][0]


def test_every_template_has_expectations_and_a_description() -> None:
    assert sorted(EXPECTED) == template_names()
    assert all(entry.description for entry in templates())
    assert templates()[0].name == DEFAULT_TEMPLATE


@pytest.mark.parametrize("template", template_names())
def test_template_validates_and_runs_green_as_generated(tmp_path: Path, template: str) -> None:
    root = _init(tmp_path, template)
    validated = run_flowdeck("validate", project=root)
    assert validated.returncode == 0, validated
    pipelines = _pipelines(root)
    assert pipelines
    for pipeline in pipelines:
        result = run_flowdeck("run", pipeline, project=root)
        assert result.returncode == 0, result
        assert "Traceback" not in result.output
    expected = EXPECTED[template](root)
    published = {table: _table_count(root, table) for table in expected}
    assert published == expected
    statuses = {row["status"] for row in ledger_rows(root, "SELECT status FROM runs")}
    assert statuses == {"succeeded"}


def test_every_yaml_file_of_every_template_explains_itself() -> None:
    for path in TEMPLATES_DIR.rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("#") or "description:" in text, path
        assert text.count("#") >= 3, f"{path} has almost no comments for a beginner"


def test_files_to_tables_exports_the_cleaned_orders(tmp_path: Path) -> None:
    import duckdb

    root = _init(tmp_path, "files_to_tables")
    assert run_flowdeck("run", "clean_tables", project=root).returncode == 0
    exported = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{root / 'exports/orders.parquet'}')").fetchone()
    assert exported is not None and exported[0] == _files_to_tables(root)["orders"]
    # the one order of an unknown customer is a warning, not a failure
    orders = _rows_of(list((root / "data/incoming/orders").glob("*.csv")))
    known = {row["customer_id"] for row in _rows(root / "data/incoming/customers.csv")}
    strangers = {row["customer_id"] for row in orders if row["customer_id"] not in known and _is_int(row["order_id"])
                 and _is_int(row["quantity"]) and _is_date(row["order_date"])}
    checks = run_flowdeck("show", "last", "--json", project=root).json()["checks"]
    relationship = next(check for check in checks if check["check"].startswith("relationships"))
    assert (relationship["status"], relationship["failing_rows"]) == ("warned", len(strangers))


def test_database_export_reads_the_database_it_brings_and_writes_parquet(tmp_path: Path) -> None:
    import duckdb

    root = _init(tmp_path, "database_export")
    tested = run_flowdeck("connections", "test", "shop", project=root)
    assert tested.returncode == 0, tested
    assert run_flowdeck("run", "export_orders", project=root).returncode == 0
    exported = duckdb.connect().execute(
        f"SELECT count(*), count(DISTINCT order_id) FROM read_parquet('{root / 'exports/orders.parquet'}')").fetchone()
    expected = _database_export(root)["orders_export"]
    assert exported == (expected, expected)


def test_incremental_rerun_adds_nothing_and_a_new_day_is_merged(tmp_path: Path) -> None:
    root = _init(tmp_path, "incremental_daily")
    first = run_flowdeck("run", "sales_daily", project=root)
    assert first.returncode == 0, first
    before = warehouse_rows(root, "SELECT * FROM sales ORDER BY sale_id")
    second = run_flowdeck("run", "sales_daily", project=root)
    assert second.returncode == 0, second
    assert warehouse_rows(root, "SELECT * FROM sales ORDER BY sale_id") == before
    assert warehouse_rows(root, "SELECT count(*), count(DISTINCT sale_id) FROM sales") == [(len(before), len(before))]

    # the next day's file: one new sale and a correction of an existing one
    corrected_id = before[0][0]
    (root / "data/daily/sales_2026-11-03.csv").write_text(
        "sale_id,store,amount,sold_at,updated_at\n"
        f"{corrected_id},Lyon,99.00,2026-11-01 09:12:00,2026-11-03 07:00:00\n"
        "900,Paris,3.00,2026-11-03 10:00:00,2026-11-03 10:00:00\n")
    third = run_flowdeck("run", "sales_daily", project=root)
    assert third.returncode == 0, third
    assert warehouse_rows(root, "SELECT count(*), count(DISTINCT sale_id) FROM sales") == [(len(before) + 1,) * 2]
    assert warehouse_rows(root, f"SELECT amount FROM sales WHERE sale_id = {corrected_id}")[0][0] == 99


def test_incremental_template_is_scheduled_daily(tmp_path: Path) -> None:
    root = _init(tmp_path, "incremental_daily")
    described = run_flowdeck("pipelines", "--json", project=root).json()
    schedule = described[0]["schedule"]
    assert schedule["cron"].split()[2:] == ["*", "*", "*"]  # every day of every month, any weekday


def test_file_triggered_template_ingests_a_dropped_file_once(tmp_path: Path) -> None:
    root = _init(tmp_path, "file_triggered")
    trigger = Project.load(root).pipeline("meter_readings").config.triggers[0]
    assert (trigger.folder, trigger.patterns, trigger.archive) == ("landing", ["*.csv"], "archive")
    assert trigger.settle.total_seconds() > 0
    assert run_flowdeck("run", "meter_readings", project=root).returncode == 0
    before = _table_count(root, "readings")

    dropped = next((root / "samples").glob("*.csv"))
    shutil.copy(dropped, root / "landing" / dropped.name)
    assert run_flowdeck("run", "meter_readings", project=root).returncode == 0
    expected = _file_triggered(root)["readings"]
    assert expected > before
    assert _table_count(root, "readings") == expected
    # the same file again (under another name) changes nothing
    shutil.copy(dropped, root / "landing" / f"again_{dropped.name}")
    assert run_flowdeck("run", "meter_readings", project=root).returncode == 0
    assert _table_count(root, "readings") == expected


def test_data_quality_template_warns_on_exactly_the_rows_that_break_its_rules(tmp_path: Path) -> None:
    root = _init(tmp_path, "data_quality")
    result = run_flowdeck("run", "quality_checks", project=root)
    assert result.returncode == 0, result
    customers = _rows(root / "data/customers.csv")
    invoices = _rows(root / "data/invoices.csv")
    expected = {
        "phone_known": sum(1 for row in customers if not row["phone"]),
        "amount_positive": sum(1 for row in invoices if float(row["amount"]) <= 0),
        "paid_after_issue": sum(1 for row in invoices
                                if row["paid_on"] and date.fromisoformat(row["paid_on"]) < date.fromisoformat(row["issued_on"])),
    }
    assert all(expected.values())  # the sample data exercises every warning
    checks = run_flowdeck("show", "last", "--json", project=root).json()["checks"]
    warned = {check["check"]: check["failing_rows"] for check in checks if check["status"] == "warned"}
    assert warned == expected
    assert {check["status"] for check in checks} == {"passed", "warned"}

    # an error-severity check that fails does fail the run
    with open(root / "data/customers.csv", "a", encoding="utf-8") as handle:
        handle.write("1,dup@example.com,FR,smb,\n")
    failed = run_flowdeck("run", "quality_checks", project=root)
    assert failed.returncode == 1, failed
    assert "unique(customer_id)" in failed.output


def test_init_without_a_terminal_uses_the_default_template_without_waiting(tmp_path: Path) -> None:
    result = run_flowdeck("init", str(tmp_path / "p"), cwd=tmp_path)  # stdin is /dev/null
    assert result.returncode == 0, result
    assert f"using the `{DEFAULT_TEMPLATE}` template" in result.stderr
    assert "--template NAME" in result.stderr
    assert (tmp_path / "p" / "flowdeck.yaml").read_text() == (TEMPLATES_DIR / DEFAULT_TEMPLATE / "flowdeck.yaml").read_text()


def test_init_on_a_terminal_asks_which_template(tmp_path: Path) -> None:
    names = [entry.name for entry in templates()]
    chosen = "incremental_daily"
    output = _on_a_terminal([str(FLOWDECK), "init", str(tmp_path / "p")], answer=f"{names.index(chosen) + 1}\n",
                            cwd=tmp_path)
    assert "Which template?" in output and f"[{names.index(DEFAULT_TEMPLATE) + 1}]" in output
    for number, name in enumerate(names, start=1):
        assert f"{number:>2}. {name}" in output
    assert f"from the `{chosen}` template" in " ".join(output.split())
    assert (tmp_path / "p" / "pipelines" / "sales_daily" / "pipeline.yaml").is_file()


def test_list_templates_prints_one_a_line_name_first() -> None:
    result = run_flowdeck("init", "--list-templates")
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [entry.name for entry in templates()]
    for line, entry in zip(lines, templates()):
        assert line.endswith(entry.description)


def _on_a_terminal(command: list[str], *, answer: str, cwd: Path, timeout: float = 30) -> str:
    """Run ``command`` with a pseudo-terminal as stdin and stdout; type ``answer`` once it asks."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(command, stdin=secondary, stdout=secondary, stderr=secondary, cwd=cwd,
                               env=clean_env(TERM="xterm", COLUMNS="120"), close_fds=True)
    os.close(secondary)
    output = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if not answered and b"Choose" in output:
                os.write(primary, answer.encode())
                answered = True
            if process.poll() is not None and not ready:
                break
    finally:
        process.kill() if process.poll() is None else None
        process.wait()
        os.close(primary)
    assert process.returncode == 0, output.decode(errors="replace")
    return output.decode(errors="replace").replace("\r\n", "\n")


