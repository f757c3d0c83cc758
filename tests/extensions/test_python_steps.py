"""`kind: python` steps: a function of the pipeline builds a table from its inputs, and flowdeck
stages, checks, masks, publishes and records it like a SQL step (the real CLI, real DuckDB files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import assert_consistent, ledger_rows, run_flowdeck, warehouse_rows

PIPELINE = """\
params:
  min_customers: {type: integer, default: 1}
steps:
  - name: customers
    kind: extract
    source: {path: data/sample/customers.csv}
  - name: by_country
    kind: python
    function: scoring:by_country
    inputs: [customers]
    lineage:
      country: [customers.country]
      customers: [customers.customer_id]
    checks:
      - row_count: {min: 1}
      - unique: [country]
  - name: contacts
    kind: python
    function: scoring:contacts
    inputs: customers
    inputs_as: relation
    mask: {email: hash}
    lineage:
      email: [customers.email]
      contact: [customers.email]
      customer_id: [customers.customer_id]
"""

FUNCTIONS = """\
import duckdb
import pyarrow as pa


def by_country(customers: pa.Table, params: dict) -> pa.Table:
    counted = customers.group_by("country").aggregate([("customer_id", "count")])
    counted = counted.rename_columns(["country", "customers"])
    return counted.filter(counted["customers"].to_numpy() >= params["min_customers"])


def contacts(customers: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    return customers.filter("country = 'DE'").project("customer_id, email, email AS contact")
"""


@pytest.fixture
def scoring(project: Path) -> Path:
    """The example project with a pipeline of Python steps (its functions in scoring.py beside it)."""
    folder = project / "pipelines" / "scoring"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text(PIPELINE)
    (folder / "scoring.py").write_text(FUNCTIONS)
    return project


def test_python_steps_publish_what_their_functions_return(scoring: Path) -> None:
    result = run_flowdeck("run", "scoring", "--param", "min_customers=30", project=scoring)
    assert result.returncode == 0, result
    counted = dict(warehouse_rows(scoring, "SELECT country, customers FROM by_country"))
    expected = dict(warehouse_rows(scoring, "SELECT country, count(*) FROM customers GROUP BY country HAVING count(*) >= 30"))
    assert counted == expected and counted
    germans = warehouse_rows(scoring, "SELECT count(*) FROM customers WHERE country = 'DE'")[0][0]
    assert warehouse_rows(scoring, "SELECT count(*) FROM contacts")[0][0] == germans
    assert_consistent(scoring)


def test_a_python_steps_masking_follows_its_declared_lineage(scoring: Path) -> None:
    assert run_flowdeck("run", "scoring", project=scoring).returncode == 0
    rows = warehouse_rows(scoring, "SELECT email, contact FROM contacts")
    assert rows and all("@" not in email and "@" not in contact for email, contact in rows)  # contact derives from email
    events = ledger_rows(scoring, "SELECT payload_json FROM events WHERE kind = 'step.masked'")
    masked = {item["column"] for event in events for item in json.loads(event["payload_json"])["masked"]}
    assert masked == {"email", "contact"}


def test_a_failed_check_on_a_python_steps_output_publishes_nothing(scoring: Path) -> None:
    assert run_flowdeck("run", "scoring", project=scoring).returncode == 0
    before = warehouse_rows(scoring, "SELECT * FROM by_country ORDER BY country")
    (scoring / "pipelines" / "scoring" / "scoring.py").write_text(
        FUNCTIONS.replace("return counted.filter", "return pa.concat_tables([counted, counted]).filter")
        .replace("counted[\"customers\"]", "pa.concat_tables([counted, counted])[\"customers\"]"))
    result = run_flowdeck("run", "scoring", project=scoring)
    assert result.returncode == 1
    assert "unique(country)" in result.output
    assert warehouse_rows(scoring, "SELECT * FROM by_country ORDER BY country") == before
    assert_consistent(scoring)


def test_lineage_shows_a_python_steps_inputs_and_declared_columns(scoring: Path) -> None:
    assert run_flowdeck("run", "scoring", project=scoring).returncode == 0
    tables = run_flowdeck("lineage", "by_country", "--json", project=scoring).json()
    assert {(edge["from"], edge["step"]) for edge in tables["upstream"]} >= {("customers", "by_country")}
    column = run_flowdeck("lineage", "contacts.contact", "--json", project=scoring).json()
    assert [edge["from"] for edge in column["upstream"]][:1] == ["customers.email"]


def test_a_function_that_raises_fails_its_step_with_its_words(scoring: Path) -> None:
    (scoring / "pipelines" / "scoring" / "scoring.py").write_text(
        FUNCTIONS.replace("    counted = customers", "    raise ValueError('no scores today')\n    counted = customers"))
    result = run_flowdeck("run", "scoring", project=scoring)
    assert result.returncode == 1
    assert "scoring:by_country raised ValueError: no scores today" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("change", "words"), [
    (("scoring:by_country", "missing:by_country"), "no module `missing`"),
    (("country: [customers.country]", "country: [orders.country]"), "`orders.country` is not a `table.column` of the step's inputs"),
])
def test_validate_refuses_a_python_step_that_cannot_run(scoring: Path, change: tuple[str, str], words: str) -> None:
    path = scoring / "pipelines" / "scoring" / "pipeline.yaml"
    path.write_text(path.read_text().replace(*change))
    result = run_flowdeck("validate", "scoring", project=scoring)
    assert result.returncode == 2
    assert words in result.output
    assert "pipeline.yaml:" in result.output


def test_a_function_without_the_inputs_parameters_is_refused_by_name(scoring: Path) -> None:
    path = scoring / "pipelines" / "scoring" / "scoring.py"
    path.write_text(FUNCTIONS.replace("def by_country(customers: pa.Table, params: dict)", "def by_country(people)"))
    result = run_flowdeck("run", "scoring", project=scoring)
    assert result.returncode == 1
    assert "scoring:by_country(people) has no parameter for input `customers`" in result.output


def test_spark_refuses_a_python_step_without_a_spark_implementation(scoring: Path) -> None:
    result = run_flowdeck("validate", "scoring", "--engine", "spark", project=scoring)
    assert result.returncode == 2
    assert "python_step" in result.output and "scoring:by_country" in result.output
    path = scoring / "pipelines" / "scoring" / "scoring.py"
    path.write_text(FUNCTIONS + "\n\ndef _spark(customers):\n    return customers\n\n\nby_country.spark = _spark\n"
                    "contacts.spark = _spark\n")
    result = run_flowdeck("validate", "scoring", "--engine", "spark", project=scoring)
    assert "python_step" not in result.output, result
