"""`flowdeck validate` knows the columns through the DAG: a column that does not exist is an error with
its place and a did-you-mean; a schema that cannot be known is a note, said once, and never guessed at."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult


def test_a_misspelt_column_fails_validate_with_its_file_line_column_and_the_name_meant(
        project: Path, flowdeck: Callable[..., CliResult]) -> None:
    sql = project / "pipelines" / "daily_sales" / "daily_sales.sql"
    sql.write_text(sql.read_text().replace("sum(amount)", "sum(amout)"))
    result = flowdeck("validate")
    assert result.returncode == 2, result
    assert f"{sql}:8:9: step `daily_sales` reads column `amout`" in result.stderr
    assert "hint: did you mean `amount`?" in result.stderr
    assert "sum(amout)" in result.stderr and "Traceback" not in result.output
    assert "✓ ingest_orders" in result.stdout  # the other pipeline is still judged on its own


def test_columns_named_by_checks_are_checked_too(project: Path, flowdeck: Callable[..., CliResult]) -> None:
    yaml = project / "pipelines" / "daily_sales" / "pipeline.yaml"
    yaml.write_text(yaml.read_text().replace("not_null: [order_id, customer_id, order_date]",
                                             "not_null: [order_id, customer_id, order_dat]")
                    .replace("WHERE revenue < 0", "WHERE revenu < 0"))
    result = flowdeck("validate", "daily_sales", "--json")
    assert result.returncode == 2, result
    problems = {problem["message"]: problem for problem in result.json()[0]["problems"]}
    not_null = problems["check `not_null(order_id, customer_id, order_dat)` of step `orders_clean` names column "
                        "`order_dat`, which `orders_clean` does not have"]
    assert (not_null["key"], not_null["hint"]) == ("steps[3].checks[0].not_null[2]", "did you mean `order_date`?")
    custom = problems["check `revenue_not_negative` of step `daily_sales` reads column `revenu`, which no table it "
                      "reads has"]
    line = yaml.read_text().splitlines()[custom["line"] - 1]
    assert line[custom["column"] - 1:].startswith("revenu < 0") and custom["hint"] == "did you mean `revenue`?"


def test_a_source_file_not_there_yet_is_said_once_and_nothing_reading_it_is_checked(
        project: Path, flowdeck: Callable[..., CliResult]) -> None:
    (project / "data" / "sample" / "customers.csv").unlink()
    sql = project / "pipelines" / "daily_sales" / "sales.sql"
    sql.write_text(sql.read_text().replace("c.country,", "c.nation AS country,"))  # unknowable now: not an error
    result = flowdeck("validate", "daily_sales")
    assert result.returncode == 0, result
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == ["note: daily_sales: step `raw_customers`: the columns of its source are unknown "
                     "(data/sample/customers.csv is not there yet), so the columns read from `raw_customers` "
                     "are not checked"]
    assert "✓ daily_sales (8 steps)" in result.stdout


def test_the_example_project_validates_clean_with_no_note_for_what_is_there(flowdeck: Callable[..., CliResult]) -> None:
    result = flowdeck("validate", "--json")
    assert result.returncode == 0, result
    verdicts = {verdict["pipeline"]: verdict for verdict in result.json()}
    assert verdicts["daily_sales"]["notes"] == []
    assert verdicts["ingest_orders"]["notes"] == [  # landing/ is empty until files arrive
        "step `landed_orders`: the columns of its source are unknown (no file matches landing/orders/*.csv yet), "
        "so the columns read from `landed_orders` are not checked"]
