"""`flowdeck test`: SQL unit tests run by the real CLI on a copy of the example project."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from tests.conftest import CliResult

TESTS = Path("pipelines/daily_sales/tests")
SALES_ROW = ("{{order_id: {id}, order_date: {day}, status: {status}, country: {country}, segment: retail, "
             "category: books, quantity: {quantity}, unit_price: 5.0, amount: {amount}}}")


def sale(id: int, day: str, status: str = "paid", country: str = "FR", quantity: int = 1) -> str:
    """One row of the `sales` view as a YAML flow mapping."""
    return SALES_ROW.format(id=id, day=day, status=status, country=country, quantity=quantity, amount=quantity * 5.0)


def write_test(project: Path, name: str, text: str) -> Path:
    path = project / TESTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.output, result


def test_the_example_project_ships_a_test_that_passes(flowdeck: Callable[..., CliResult]) -> None:
    result = flowdeck("test")
    assert result.returncode == 0, result
    assert "✓ passed daily_sales › counts_only_paid_orders" in result.stdout
    assert "1 test: 1 passed" in result.stderr


def test_a_failing_test_prints_the_rows_that_differ_and_exits_1(project: Path, flowdeck: Callable[..., CliResult]) -> None:
    path = write_test(project, "wrong.yaml", f"""\
wrong_revenue:
  step: daily_sales
  inputs:
    sales:
      rows:
        - {sale(1, "2026-01-02", quantity=2)}
        - {sale(2, "2026-01-03", country="DE")}
  expect:
    rows:
      - {{order_date: 2026-01-02, country: FR, category: books, orders: 1, units: 2, revenue: 11}}
      - {{order_date: 2026-01-03, country: DE, category: books, orders: 1, units: 1, revenue: 5}}
""")
    result = flowdeck("test", "daily_sales")
    assert result.returncode == 1, result
    no_traceback(result)
    assert "✗ failed daily_sales › wrong_revenue" in result.stdout
    assert f"    {path.relative_to(project)}:1:1\n" in result.stdout  # where the test is (the CLI runs in the project)
    assert "1 row missing; 1 row unexpected" in result.stdout
    missing = result.stdout.split("missing (expected")[1].split("unexpected (in the output")[0]
    assert "2026-01-02" in missing and "11" in missing and "DE" not in missing  # the row that matched is not shown
    unexpected = result.stdout.split("unexpected (in the output, not expected):")[1]
    assert "10.0" in unexpected
    assert "1 failed" in result.stderr


def test_keyed_rows_are_a_subset_and_a_differing_row_names_its_columns(project: Path,
                                                                       flowdeck: Callable[..., CliResult]) -> None:
    write_test(project, "keyed.yaml", f"""\
by_day_and_country:
  step: daily_sales
  inputs:
    sales:
      rows:
        - {sale(1, "2026-01-02", quantity=2)}
        - {sale(2, "2026-01-03", country="DE")}
        - {sale(3, "2026-01-04", country="IT")}
  expect:
    key: [order_date, country]
    rows:   # one of the three output rows, with a wrong count
      - {{order_date: 2026-01-03, country: DE, category: books, orders: 2, units: 1, revenue: 5}}
""")
    result = flowdeck("test", "--json")
    assert result.returncode == 1, result
    outcome = next(test for test in result.json()["tests"] if test["test"] == "by_day_and_country")
    duckdb = outcome["engines"][0]
    assert duckdb["missing"] == [] and duckdb["unexpected"] == []  # the other two output rows are not compared
    assert duckdb["differing"] == [{"key": {"order_date": "2026-01-03", "country": "DE"}, "position": None,
                                    "columns": [{"column": "orders", "expected": 2, "actual": 1}]}]
    text = flowdeck("test", "--select", "daily_sales")
    assert "order_date=2026-01-03, country=DE: orders: expected 2, got 1" in text.stdout, text
    fixed = (project / TESTS / "keyed.yaml").read_text().replace("orders: 2,", "orders: 1,")
    (project / TESTS / "keyed.yaml").write_text(fixed)
    assert flowdeck("test").returncode == 0


def test_params_and_now_are_fixed_per_test(project: Path, flowdeck: Callable[..., CliResult]) -> None:
    (project / "pipelines/daily_sales/recent.sql").write_text(
        "SELECT order_id, order_date FROM orders_clean\n"
        "WHERE order_date >= $since AND order_date > current_date - INTERVAL 2 DAY AND updated_at <= now()\n")
    pipeline = project / "pipelines/daily_sales/pipeline.yaml"
    pipeline.write_text(pipeline.read_text() + "\n  - name: recent\n    kind: transform\n    sql: recent.sql\n")
    rows = """\
  inputs:
    orders_clean:
      rows:
        - {order_id: 1, order_date: 2026-11-01, updated_at: 2026-11-01T05:00:00}
        - {order_id: 2, order_date: 2026-10-31, updated_at: 2026-10-31T05:00:00}
        - {order_id: 3, order_date: 2026-10-20, updated_at: 2026-10-20T05:00:00}
        - {order_id: 4, order_date: 2026-11-01, updated_at: 2026-11-01T07:00:00}
"""
    write_test(project, "recent.yaml", f"""\
the_last_two_days:
  step: recent
  now: 2026-11-01T06:00:00
{rows}  expect:
    rows: [{{order_id: 1, order_date: 2026-11-01}}, {{order_id: 2, order_date: 2026-10-31}}]
since_a_day:
  step: recent
  now: 2026-11-01T06:00:00
  params: {{since: 2026-11-01}}
{rows}  expect:
    rows: [{{order_id: 1, order_date: 2026-11-01}}]
""")
    result = flowdeck("test", "--select", "recent")
    assert result.returncode == 0, result
    assert result.stdout.count("✓ passed") == 2
    assert "counts_only_paid_orders" not in result.stdout  # --select: only the tests of that step
    # without a fixed time the test would give other rows tomorrow: refused, at the test's line
    text = (project / TESTS / "recent.yaml").read_text().replace("  now: 2026-11-01T06:00:00\n", "", 1)
    (project / TESTS / "recent.yaml").write_text(text)
    refused = flowdeck("test", "daily_sales")
    assert refused.returncode == 2, refused
    assert f"{project / TESTS / 'recent.yaml'}:1:1: step `recent` reads the clock" in refused.stderr
    assert "now: 2026-11-01T06:00:00" in refused.stderr  # the hint says what to write


def test_a_bad_test_file_names_its_file_and_line_and_exits_2(project: Path, flowdeck: Callable[..., CliResult]) -> None:
    path = write_test(project, "bad.yaml", """\
first:
  step: daily_sales
  inputs:
    sales:
      rows: [{order_id: 1}]
      types: {order_id: INTEGR}
  expect:
    rows: [{orders: 1}]
    keys: [orders]
""")
    result = flowdeck("test")
    assert result.returncode == 2, result
    no_traceback(result)
    assert f"{path}:9:5: unknown key `keys`" in result.stderr
    assert "did you mean `key`?" in result.stderr
    assert "✓ passed daily_sales › counts_only_paid_orders" in result.stdout  # the valid files still ran
    path.write_text(path.read_text().replace("    keys: [orders]\n", ""))
    result = flowdeck("test")
    assert result.returncode == 2, result
    assert f"{path}:6:25: `INTEGR` is not a DuckDB type" in result.stderr
    path.write_text(path.read_text().replace("INTEGR", "BIGINT").replace("step: daily_sales", "step: daily_sale"))
    result = flowdeck("test", "--json")
    assert result.returncode == 2
    problem = result.json()["problems"][0]
    assert (problem["file"], problem["line"], problem["hint"]) == (str(path), 2, "did you mean `daily_sales`?")


def test_paths_from_a_test_or_a_step_name_stay_inside_the_pipeline(project: Path,
                                                                  flowdeck: Callable[..., CliResult]) -> None:
    outside = project.parent / "outside.csv"  # a readable CSV, out of the pipeline's folder
    outside.write_text("order_date,status,country,category,quantity,amount\n2026-01-02,paid,FR,books,1,5.0\n")
    path = write_test(project, "escape.yaml", """\
escape:
  step: daily_sales
  inputs:
    sales:
      csv: ../../../../outside.csv
  expect:
    rows: []
""")
    result = flowdeck("test")
    assert result.returncode == 2, result
    no_traceback(result)
    assert f"{path}:5:12: ../../../../outside.csv is outside the pipeline's folder" in result.stderr, result
    # a step name is checked against the plan before it becomes the path of a test to write
    (project / "pipelines" / "elsewhere.yaml").write_text("kept: true\n")
    generated = flowdeck("test", "--generate", "../elsewhere", "daily_sales")
    assert generated.returncode == 2 and "has no step `../elsewhere`" in generated.stderr, generated
    assert "exists" not in generated.stderr
    assert (project / "pipelines" / "elsewhere.yaml").read_text() == "kept: true\n"


def test_a_step_whose_sql_fails_on_the_rows_is_an_error_said_plainly(project: Path,
                                                                    flowdeck: Callable[..., CliResult]) -> None:
    write_test(project, "types.yaml", """\
text_quantities:
  step: daily_sales
  inputs:
    sales:
      rows: [{order_date: 2026-01-02, status: paid, country: FR, category: books, quantity: many, amount: 1}]
  expect:
    rows: []
""")
    result = flowdeck("test")
    assert result.returncode == 1, result
    no_traceback(result)
    assert "✗ error daily_sales › text_quantities" in result.stdout
    assert "the step's SQL failed on the test's rows" in result.stdout and "sum(VARCHAR)" in result.stdout


def test_generate_writes_a_test_from_the_warehouse_that_passes(project: Path, flowdeck: Callable[..., CliResult]) -> None:
    before = flowdeck("test", "--generate", "orders_clean")
    assert before.returncode == 2 and "not in the warehouse" in before.stderr and "flowdeck run" in before.stderr
    assert flowdeck("run", "daily_sales").returncode == 0
    warehouse = project / ".flowdeck" / "warehouse.duckdb"
    written = warehouse.stat().st_mtime_ns
    result = flowdeck("test", "--generate", "orders_clean")
    assert result.returncode == 0, result
    path = project / TESTS / "orders_clean.yaml"
    assert f"wrote {path.relative_to(project)}" in result.stdout  # the CLI runs in the project
    text = path.read_text()
    assert text.count("- {order_id: '") == 5  # 5 rows of raw_orders, as published (text: the feed is read as text)
    assert "types: {order_id: VARCHAR" in text
    assert warehouse.stat().st_mtime_ns == written  # read, never written
    ran = flowdeck("test", "--select", "orders_clean")
    assert ran.returncode == 0, ran
    assert "✓ passed daily_sales › orders_clean_sample" in ran.stdout
    again = flowdeck("test", "--generate", "orders_clean", "daily_sales")
    assert again.returncode == 2 and "--force" in again.stderr
    assert path.read_text() == text
    assert flowdeck("test", "--generate", "orders_clean", "--force").returncode == 0
    # a step joining three tables: the rows of the tables it joins are those matching the first table's sample
    assert flowdeck("test", "--generate", "sales").returncode == 0
    generated = yaml.safe_load((project / TESTS / "sales.yaml").read_text())["sales_sample"]
    orders = generated["inputs"]["orders_clean"]["rows"]
    assert len(orders) == 5 and len(generated["expect"]["rows"]) == 5  # every sampled order found its customer
    assert {row["customer_id"] for row in generated["inputs"]["raw_customers"]["rows"]} == \
        {row["customer_id"] for row in orders}
    ran = flowdeck("test", "--select", "sales orders_clean")  # a union, as run --select takes it
    assert ran.returncode == 0 and ran.stdout.count("✓ passed") == 2, ran
    # the selection grammar: orders_clean and downstream (sales, daily_sales and its example test), minus one
    downstream = flowdeck("test", "--select", "orders_clean+")
    assert downstream.returncode == 0 and downstream.stdout.count("✓ passed") == 3, downstream
    assert "counts_only_paid_orders" in downstream.stdout
    narrowed = flowdeck("test", "--select", "orders_clean+", "--exclude", "daily_sales")
    assert narrowed.returncode == 0 and narrowed.stdout.count("✓ passed") == 2, narrowed
    assert "counts_only_paid_orders" not in narrowed.stdout
    unknown = flowdeck("test", "--select", "order_clean")
    assert unknown.returncode == 2 and "orders_clean" in unknown.stderr and "Traceback" not in unknown.stderr, unknown


def test_validate_with_tests_runs_them(project: Path, flowdeck: Callable[..., CliResult]) -> None:
    assert flowdeck("validate", "--with-tests").returncode == 0
    write_test(project, "failing.yaml", f"""\
failing:
  step: daily_sales
  inputs: {{sales: {{rows: [{sale(1, "2026-01-02")}]}}}}
  expect: {{rows: []}}
""")
    result = flowdeck("validate", "--with-tests")
    assert result.returncode == 1, result
    assert "✓ daily_sales (8 steps)" in result.stdout and "✗ failed daily_sales › failing" in result.stdout
    plain = flowdeck("validate")
    assert plain.returncode == 0 and "failing" not in plain.output


def test_checks_true_runs_the_steps_checks_on_the_output(project: Path, flowdeck: Callable[..., CliResult]) -> None:
    write_test(project, "refund.yaml", f"""\
refund:
  step: daily_sales
  checks: true
  inputs:
    sales:
      rows: [{sale(1, "2026-01-02", quantity=-1)}]
  expect:
    rows: [{{order_date: 2026-01-02, country: FR, category: books, orders: 1, units: -1, revenue: -5.0}}]
""")
    result = flowdeck("test", "--json")
    assert result.returncode == 1, result
    refund = next(test for test in result.json()["tests"] if test["test"] == "refund")["engines"][0]
    assert (refund["status"], refund["missing"], refund["unexpected"]) == ("failed", [], [])  # the rows are as expected
    assert refund["failed_checks"] == ["check revenue_not_negative failed: 1 row returned by the check query"]
    text = (project / TESTS / "refund.yaml").read_text().replace("  checks: true\n", "")
    (project / TESTS / "refund.yaml").write_text(text)
    assert flowdeck("test").returncode == 0  # without `checks: true`, only the rows count
