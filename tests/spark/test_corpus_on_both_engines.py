"""Every corpus transform gives identical rows on DuckDB and Spark, or the lint refuses it before it runs."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from flowdeck.engine.backends.base import CommitMarker, FileRead, MergeSpec
from flowdeck.engine.backends.duckdb.backend import DuckDBBackend
from flowdeck.engine.backends.spark.transpile import transpile
from flowdeck.engine.backends.spark.file_functions import ProjectFiles
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.steps.incremental import check_key_columns
from flowdeck.engine.sql.render import identifier, string
from tests.spark.corpus import CASES, Case, write_data

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

FAMILIES = {"ctes", "joins", "grouping", "ordering", "windows", "qualify", "dates", "regex", "strings", "lists",
            "structs", "json", "decimals", "numbers", "files"}


@pytest.fixture(scope="session")
def engines(tmp_path_factory: pytest.TempPathFactory, local_spark: Any) -> dict[str, Any]:
    """The corpus tables, read by each engine's own readers and published on both backends."""
    from flowdeck.engine.backends.spark.backend import SparkBackend
    from flowdeck.engine.backends.spark.session import connect
    from flowdeck.engine.project.config.spark import SparkConfig

    folder = tmp_path_factory.mktemp("corpus")
    tables = write_data(folder / "data")
    duck = DuckDBBackend.open(folder / "warehouse.duckdb")
    # file names in SQL are found in the data folder, as a run finds them in the project
    duck.query(f"SET GLOBAL file_search_path = {string(str(folder / 'data'))}")
    spark = SparkBackend(connect(SparkConfig(master="local[2]")), str(folder / "spark-warehouse"), root=folder / "data")
    for backend in (duck, spark):
        for table, (path, options, filename) in tables.items():
            read = FileRead(paths=[path], format=Path(path).suffix.lstrip(".").replace("jsonl", "json"),
                            options=options, filename=filename)
            staged = backend.stage_files("corpus", table, read)
            backend.publish(staged, table, CommitMarker("corpus", table, table, staged.rows, staged.checksum))
    schema = {table: {row[0]: row[1] for row in duck.query(f"DESCRIBE {table}").rows} for table in tables}
    yield {"duckdb": duck, "spark": spark, "schema": schema, "root": folder / "data"}
    spark.close()
    duck.close()


def test_the_corpus_covers_the_construct_families_the_reference_measured() -> None:
    assert len(CASES) >= 50
    assert FAMILIES <= {case.family for case in CASES}
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case_gives_identical_rows_or_is_refused_before_running(case: Case, engines: dict[str, Any]) -> None:
    translated = transpile(case.sql, schema=engines["schema"], files=ProjectFiles(engines["root"]))
    refused = {finding.rule.id for finding in translated.findings}
    if case.verdict != "same":
        assert case.verdict in refused, f"expected the lint to refuse it ({case.verdict}); it found {refused}"
        return
    assert not refused, [finding.message() for finding in translated.findings]
    assert column_types(engines["spark"], case) == column_types(engines["duckdb"], case)
    expected = engines["duckdb"].query(case.sql, limit=100_000)
    actual = engines["spark"].query(case.sql, limit=100_000)
    assert actual.columns == expected.columns
    duck_rows = [normal(row) for row in expected.rows]
    spark_rows = [normal(row) for row in actual.rows]
    if " order by " not in case.sql.lower().rsplit(")", 1)[-1]:  # no top-level ORDER BY: compare as sets
        duck_rows, spark_rows = sorted(duck_rows, key=repr), sorted(spark_rows, key=repr)
    assert spark_rows == duck_rows
    assert duck_rows, "a case that returns nothing proves nothing"


@pytest.mark.parametrize("text", ["2026-13-03", "2026-02-30", "202612031", "2026-01-03 23:59:60", "+2026-01-03"])
def test_strptime_of_text_duckdb_refuses_fails_on_both_engines(text: str, engines: dict[str, Any]) -> None:
    # an error on both, never a value on one: try_strptime gives NULL for these (corpus case strptime_malformed)
    sql = f"SELECT strptime({string(text)}, '%Y-%m-%d %H:%M:%S') AS t" if ":" in text else (
        f"SELECT strptime({string(text)}, {string('%Y%m%d' if text.isdigit() else '%Y-%m-%d')}) AS t")
    with pytest.raises(FlowdeckError, match="Could not parse string|Date out of range"):
        engines["duckdb"].query(sql)
    with pytest.raises(FlowdeckError, match=f'Could not parse string "{re.escape(text)}" according to format'):
        engines["spark"].query(sql)


def test_columns_keep_the_case_duckdb_gives_them_staged_and_published(engines: dict[str, Any]) -> None:
    # sqlglot's star expansion for Spark lower-cases names: columns() must still say them as DuckDB does
    sql = "SELECT 1 AS \"MixedCase\", 'x' AS lower_one, 2.5 AS \"Spaced Name\", id AS \"ID\" FROM events WHERE id < 3"
    expected = [("MixedCase", "INT"), ("lower_one", "TEXT"), ("Spaced Name", "DECIMAL(2, 1)"), ("ID", "BIGINT")]
    spark, duck = engines["spark"], engines["duckdb"]
    for backend in (duck, spark):
        staged = backend.stage_query("corpus", "mixed_case", sql)
        assert spelled(backend.columns(identifier(staged.name))) == expected
        backend.publish(staged, "mixed_case", CommitMarker("corpus", "mixed_case", "mixed_case", staged.rows,
                                                           staged.checksum))
        assert spelled(backend.columns(identifier("mixed_case"))) == expected
        assert spelled(backend.columns('SELECT "MixedCase" + 1 AS "Next", "ID" FROM mixed_case')) == [
            ("Next", "INT"), ("ID", "BIGINT")]
        assert backend.query("SELECT * FROM mixed_case ORDER BY 4").columns == [name for name, _ in expected]
        # what reads columns(): an incremental step's key check, and the batch-fits-the-table check before a merge
        batch = backend.stage_query("corpus", "mixed_case", sql)
        check_key_columns(backend, batch.name, MergeSpec(unique_key=("ID",), on_duplicate="update",
                                                         order_by=("MixedCase",)), "mixed_case")
        backend.check_same_columns(batch, "mixed_case", "mixed_case")
        backend.discard(batch)


def column_types(backend: Any, case: Case) -> list[tuple[str, str]]:
    """The columns (name, type) of the case staged as a step's output, as the backend publishes it; types
    normalised by sqlglot (DuckDB's spelling). DuckDB's HUGEINT, which Spark has no type for, is BIGINT
    on Spark: the one difference docs/spark.md documents."""
    staged = backend.stage_query("corpus", case.name, case.sql, view=True)
    try:
        columns = backend.columns(identifier(staged.name))
    finally:
        backend.discard(staged)
    return [(name, "BIGINT" if kind == "INT128" else kind) for name, kind in spelled(columns)]


def spelled(columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Column types as sqlglot spells them in DuckDB's dialect (`INTEGER` and Spark's `INT` alike)."""
    return [(name, exp.DataType.build(kind, dialect="duckdb").sql("duckdb")) for name, kind in columns]


def normal(value: Any) -> Any:
    """A value both engines' Python types compare equal on: floats (kept apart from integers) to 9 significant
    digits, structs as sorted pairs."""
    if hasattr(value, "asDict"):
        value = value.asDict()
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("double", value if math.isinf(value) or value == 0 else float(f"{value:.9g}"))
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, dict):
        return tuple(sorted((str(key), normal(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(normal(item) for item in value)
    return value
