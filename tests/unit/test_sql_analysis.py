"""SQL analysis: DuckDB's parser for syntax, sqlglot for tables and parameters, and the memo of both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowdeck.engine.errors import SqlError
from flowdeck.engine.sql.analysis import parse_query, statement_text
from flowdeck.engine.sql.cache import AnalysisCache

SQL = Path("step.sql")


def _error(text: str) -> SqlError:
    with pytest.raises(SqlError) as caught:
        parse_query(text, SQL)
    return caught.value


def test_tables_read_exclude_ctes_and_table_functions() -> None:
    query = parse_query(
        "WITH recent AS (SELECT * FROM orders WHERE day > $since)\n"
        "SELECT * FROM recent JOIN Customers c USING (id)\n"
        "JOIN read_csv('x.csv') AS f ON f.id = c.id\n"
        "WHERE id IN (SELECT id FROM vip)",
        SQL,
    )
    assert query.tables == {"orders", "customers", "vip"}
    assert [(use.name, use.line, use.column) for use in query.param_uses] == [("since", 1, 50)]


def test_a_file_named_in_from_is_read_by_duckdb_not_a_table_a_step_must_produce() -> None:
    # DuckDB reads `FROM 'x.parquet'` itself (a replacement scan); it was taken for a table no step produced
    query = parse_query("SELECT * FROM 'data/sample/products.parquet' AS p JOIN \"landing/*.csv\" USING (id)\n"
                        "JOIN \"orders\" USING (id) JOIN 'items.json.gz' USING (id)", SQL)
    assert query.tables == {"orders"}


def test_duckdb_rejects_what_sqlglot_would_accept() -> None:
    error = _error("SELECT *\nFROM a JOIN b ON\nWHERE a.x = 1")
    assert error.what == 'SQL syntax error at or near "WHERE"'
    assert (error.location.line, error.location.column) == (3, 1)
    assert error.excerpt == "    3 | WHERE a.x = 1\n        ^"


def test_error_position_is_a_character_column_after_multibyte_text() -> None:
    error = _error("SELECT 'façade €' AS x FRM t")
    assert error.location.column == len("SELECT 'façade €' AS x ") + 1


def test_unterminated_string_is_a_syntax_error_with_a_line() -> None:
    error = _error("SELECT 1,\n  'abc AS x\nFROM t")
    assert "unterminated" in error.what and error.location.line == 2


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "the SQL file is empty"),
        ("-- only a comment\n", "the SQL file is empty"),
        ("SELECT 1; SELECT 2", "holds 2 statements"),
        ("CREATE TABLE t AS SELECT 1", "must be a SELECT"),
        ("INSERT INTO t VALUES (1)", "must be a SELECT"),
    ],
)
def test_a_step_runs_exactly_one_select(text: str, words: str) -> None:
    assert words in _error(text).what


def test_trailing_semicolons_are_allowed_and_stripped_for_wrapping() -> None:
    assert parse_query("SELECT 1;\n", SQL).tables == frozenset()
    assert statement_text("SELECT 1 ; ;\n\n") == "SELECT 1"


def test_analysis_is_remembered_by_text_and_reused(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path / "cache" / "sql.json")
    text = "SELECT * FROM orders WHERE day >= $since"
    first = parse_query(text, SQL, cache)
    cache.save()
    reloaded = AnalysisCache(tmp_path / "cache" / "sql.json")
    assert reloaded.get(text) == {"tables": ["orders"], "params": [["since", 34, 40, 1, 35]],
                                  "facts": {"canonical": "SELECT * FROM orders WHERE day >= $since", "volatile": [],
                                            "files": []}}
    again = parse_query(text, Path("other.sql"), reloaded)
    assert (again.tables, again.param_uses, again.path) == (first.tables, first.param_uses, Path("other.sql"))
    assert again.facts == first.facts and "tree" not in again.__dict__  # what fingerprints need: no parse
    assert again.tree.sql(dialect="duckdb") == first.tree.sql(dialect="duckdb")  # parsed on demand
    assert reloaded.get(text + " ") is None  # any change is a different text


def test_errors_are_never_remembered(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path / "sql.json")
    with pytest.raises(SqlError):
        parse_query("SELECT FROM FROM", SQL, cache)
    cache.save()
    assert not (tmp_path / "sql.json").exists()


def test_a_damaged_or_foreign_cache_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "sql.json"
    path.write_text("{not json")
    cache = AnalysisCache(path)
    assert cache.get("SELECT 1") is None
    key = AnalysisCache.key("SELECT * FROM t")
    path.write_text(json.dumps({"fingerprint": "another flowdeck", "entries": {key: {"tables": ["x"], "params": []}}}))
    assert AnalysisCache(path).get("SELECT * FROM t") is None  # results of other parser versions are not trusted


def test_a_read_only_runtime_folder_just_keeps_no_cache(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    cache = AnalysisCache(blocked / "sql.json")
    parse_query("SELECT 1", SQL, cache)
    cache.save()  # cannot be written: no error, nothing left behind
    assert blocked.read_text() == "not a folder"


@pytest.mark.parametrize(
    ("text", "tables"),
    [
        ("PIVOT orders ON status USING count(*) GROUP BY customer_id", {"orders"}),
        ("UNPIVOT wide ON a, b INTO NAME k VALUE v;", {"wide"}),
        ("WITH w AS (SELECT * FROM raw) PIVOT w ON a USING sum(b)", {"raw"}),
        ("PIVOT (SELECT * FROM x JOIN y USING (k)) ON a USING sum(b)", {"x", "y"}),
        ("SELECT * FROM (PIVOT orders ON status USING count(*))", {"orders"}),
        ("PIVOT read_csv('data/x.csv') ON a USING sum(b)", set()),
    ],
)
def test_duckdbs_pivot_statement_is_a_query_and_its_tables_are_found(text: str, tables: set[str]) -> None:
    assert parse_query(text, SQL).tables == tables
