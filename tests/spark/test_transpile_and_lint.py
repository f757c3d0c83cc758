"""The transpiler, its rewrites and the lint, in pure Python (no JVM): what Spark SQL comes out, what is refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot

from flowdeck.engine.backends.spark.context import Finding
from flowdeck.engine.backends.spark.rewrite import _java_replacement
from flowdeck.engine.backends.spark.rules import RULES, rules_markdown
from flowdeck.engine.backends.spark.transpile import transpile
from tests.spark.conftest import REPO
from tests.spark.corpus import CASES

SCHEMA = {"t": {"l": "VARCHAR[]", "i": "INTEGER", "p": "DECIMAL(10,2)", "a": "INTEGER", "b": "INTEGER", "s": "VARCHAR",
                "d": "DATE", "ts": "TIMESTAMP", "x": "DOUBLE", "j": "VARCHAR"}}
CORPUS_SCHEMA = {
    "events": {"id": "BIGINT", "user_id": "INTEGER", "ts": "TIMESTAMP", "d": "DATE", "amount": "DECIMAL(10,2)",
               "price": "DOUBLE", "qty": "INTEGER", "tags": "VARCHAR[]", "url": "VARCHAR", "payload": "VARCHAR",
               "props": "STRUCT(a INTEGER, b VARCHAR)", "note": "VARCHAR", "code": "VARCHAR"},
    "users": {"user_id": "BIGINT", "name": "VARCHAR", "country": "VARCHAR", "signup": "DATE", "score": "DOUBLE"},
}


def spark_sql(sql: str) -> str:
    translated = transpile(sql, schema=SCHEMA)
    assert not translated.refused, [finding.message() for finding in translated.findings]
    return translated.sql


@pytest.mark.parametrize(("duckdb_sql", "fragment", "rule"), [
    ("SELECT a / b AS r FROM t", "try_divide(CAST(t.a AS DOUBLE), CAST(t.b AS DOUBLE))", "division"),
    ("SELECT a / b AS r FROM t", "THEN CAST(t.a AS DOUBLE) * CAST('Infinity' AS DOUBLE)", "division"),
    ("SELECT regexp_replace(s, 'a', 'b') AS r FROM t", r"regexp_replace(t.s, '^([\\s\\S]*?)(a)', '$1b')", "regexp_replace"),
    ("SELECT regexp_replace(s, '(a)', '\\1$', 'g') AS r FROM t", r"regexp_replace(t.s, '(a)', '$1\\$')", "regexp_replace"),
    ("SELECT list(s ORDER BY i DESC) AS r FROM t", "array_sort(collect_list(struct(t.i AS k0, t.s AS v))", "ordered_list_agg"),
    ("SELECT date_diff('month', d, ts) AS r FROM t", "(year(t.ts) * 12 + month(t.ts)) - (year(t.d) * 12 + month(t.d))",
     "date_diff"),
    ("SELECT dayofweek(d) AS r FROM t", "(dayofweek(t.d) - 1)", "day_of_week"),
    ("SELECT isodow(d) AS r FROM t", "((dayofweek(t.d) + 5) % 7 + 1)", "day_of_week"),
    ("SELECT epoch(ts) AS r FROM t", "unix_micros(CAST(t.ts AS TIMESTAMP)) / 1000000D", "epoch"),
    ("SELECT epoch_ms(ts) AS r FROM t", "round(unix_micros(CAST(t.ts AS TIMESTAMP)) / 1000D)", "epoch"),
    ("SELECT epoch_ms(i) AS r FROM t", "timestamp_millis(t.i)", "epoch"),
    ("SELECT l[1] AS r FROM t", "try_element_at(t.l, 1)", "list_index"),
    ("SELECT l[-1] AS r FROM t", "try_element_at(t.l, -1)", "list_index"),
    ("SELECT l[i] AS r FROM t", "try_element_at(t.l, NULLIF(t.i, 0))", "list_index"),
    ("SELECT l[2:3] AS r FROM t", "slice(t.l, 2, 2)", "list_index"),
    ("SELECT s[2] AS r FROM t", "substring(t.s, 2, 1)", "list_index"),
    ("SELECT len(l) AS r FROM t", "array_size(t.l)", "length_of_list"),
    ("SELECT avg(p) AS r FROM t", "avg(CAST(t.p AS DOUBLE))", "avg_decimal"),
    ("SELECT sum(p) AS r FROM t", "CAST(sum(t.p) AS DECIMAL(38, 2))", "avg_decimal"),
    ("SELECT round(x, 2) AS r FROM t", "CASE WHEN", "round_double"),
    ("SELECT floor(x) AS r FROM t", "CAST(floor(t.x) AS DOUBLE)", "round_double"),
    ("SELECT TRY_CAST(s AS INTEGER) AS r FROM t", "TRY_CAST(round(TRY_CAST(t.s AS DECIMAL(38, 10))) AS INT)",
     "cast_text_to_integer"),
    ("SELECT d + INTERVAL 1 DAY AS r FROM t", "CAST(t.d AS TIMESTAMP) + INTERVAL '1' DAY", "date_plus_interval"),
    ("SELECT try_strptime(s, '%Y-%m-%d') AS r FROM t",
     r"__fd_s RLIKE '^\\s*+(\\d{1,4}+)\\-(\\d{1,2}+)\\-(\\d{1,2}+)\\s*+\\z'", "strptime"),
    ("SELECT strptime(s, '%Y%m%d %H') AS r FROM t", r"'^\\s*+(\\d{1,4}+)(\\d{1,2}+)(\\d{1,2}+)\\s++(\\d{1,2}+)", "strptime"),
    ("SELECT strptime(s, '%Y%m%d %H') AS r FROM t", "raise_error(concat('Could not parse string", "strptime"),
    ("SELECT upper(s) AS r FROM t", "translate(t.s, 'abc", "case_mapping"),
    ("SELECT lcase(s) AS r FROM t", "translate(t.s, 'ABC", "case_mapping"),
    ("SELECT s ILIKE 'a%' AS r FROM t", "translate(t.s, 'ABC", "case_mapping"),
    ("SELECT regexp_matches(s, 'a', 'i') AS r FROM t", "(t.s RLIKE '(?iu)a')", "regexp_options"),
    ("SELECT regexp_extract(s, 'a(b)', 1, 'i') AS r FROM t", "regexp_extract(t.s, '(?iu)a(b)', 1)", "regexp_options"),
    ("SELECT chr(8364) AS r FROM t", "'€'", "chr"),
    ("SELECT chr(i) AS r FROM t", "decode(unhex(concat(hex(224 + shiftright(", "chr"),
    ("SELECT week(d) AS r FROM t", "CAST(weekofyear(t.d) AS BIGINT)", "week"),
    ("SELECT yearweek(d) AS r FROM t", "extract(YEAROFWEEK FROM t.d) * 100", "week"),
    ("SELECT list_reverse(l) AS r FROM t", "reverse(t.l)", "list_functions"),
    ("SELECT list_position(l, s) AS r FROM t",
     "CAST(NULLIF(array_position(transform(t.l, __fd_e -> __fd_e <=> t.s), true), 0) AS INT)", "list_functions"),
    ("SELECT regexp_full_match(s, 'a+') AS r FROM t", r"(t.s RLIKE '^(?:a+)\\z')", "regexp_full_match"),
    ("SELECT quantile_cont(x, 0.9) AS r FROM t", "percentile(t.x, 0.9)", "quantile_cont"),
    ("SELECT list_extract(l, 2) AS r FROM t", "try_element_at(t.l, 2)", "list_index"),
    ("SELECT list_extract(l, i) AS r FROM t", "try_element_at(t.l, NULLIF(t.i, 0))", "list_index"),
    ("SELECT parse_filename(s, true) AS r FROM t",
     r"regexp_replace(regexp_extract(t.s, '[^/\\\\]*$', 0), '[.][^.]*$', '')", "parse_filename"),
    ("SELECT printf('%i: %s', i, s) AS r FROM t",
     "(CASE WHEN t.i IS NULL OR t.s IS NULL THEN NULL ELSE format_string('%d: %s', t.i, t.s) END)", "printf"),
    ("SELECT printf('%.1f', x) AS r FROM t", "ELSE bround(", "printf"),  # DuckDB's fmt: half to even on the binary value
    ("SELECT CAST(x AS INTEGER) AS r FROM t", "CAST(bround(t.x, 0) AS INT)", "cast_number_to_integer"),
    ("SELECT CAST(p AS BIGINT) AS r FROM t", "CAST(round(t.p, 0) AS BIGINT)", "cast_number_to_integer"),
    ("SELECT concat(s, i) AS r FROM t", "concat(coalesce(t.s, ''), coalesce(CAST(t.i AS STRING), ''))", "concat"),
    ("SELECT strftime(ts, '%j %% %-d') AS r FROM t", r"date_format(t.ts, 'DDD\' % \'d')", "strftime"),
    ("SELECT dayname(d) AS r FROM t", "date_format(t.d, 'EEEE')", "strftime"),
    ("SELECT list_concat(l, l) AS r FROM t", "concat(coalesce(t.l, CAST(array() AS ARRAY<STRING>)), ", "list_nulls"),
    ("SELECT flatten([l]) AS r FROM t", "flatten(filter(ARRAY(t.l), e -> e IS NOT NULL))", "list_nulls"),
    ("SELECT list_sort(list_distinct(l)) AS r FROM t", "array_distinct(filter(t.l, e -> e IS NOT NULL))", "list_nulls"),
    ("SELECT extract(epoch FROM ts) AS r FROM t", "(unix_micros(CAST(t.ts AS TIMESTAMP)) / 1000000D)", "epoch"),
    ("SELECT to_json([i]) AS r FROM t", "to_json(ARRAY(t.i), map('ignoreNullFields', 'false'))", "to_json"),
    ("SELECT date_add(d, INTERVAL 1 DAY) AS r FROM t", "(CAST(t.d AS TIMESTAMP) + INTERVAL '1' DAY)", "date_plus_interval"),
    ("SELECT regexp_split_to_array(s, ',') AS r FROM t", "split(t.s, ',', -1)", "regexp_split"),
])
def test_rewrite_produces_spark_sql_with_duckdbs_meaning(duckdb_sql: str, fragment: str, rule: str) -> None:
    translated = transpile(duckdb_sql, schema=SCHEMA)
    assert fragment in translated.sql
    assert rule in translated.rewrites


@pytest.mark.parametrize(("duckdb_sql", "fragment"), [
    # ordered by a column it does not select: the column is carried out of the subquery, and not selected there
    ("SELECT DISTINCT ON (a) a, i FROM t ORDER BY a, x DESC",
     "AS _fd_order_1 FROM t AS t) AS _t WHERE _row_number = 1 ORDER BY a NULLS LAST, _fd_order_1 DESC"),
    # the LIMIT cuts the rows left once each group's first is picked, not before
    ("SELECT DISTINCT ON (a) a, i FROM t ORDER BY a LIMIT 2", "WHERE _row_number = 1 ORDER BY a NULLS LAST LIMIT 2"),
    # an ORDER BY naming an output alias: the window sees the expression (Spark has no aliases there)
    ("SELECT DISTINCT ON (a) a AS k, i FROM t ORDER BY k", "ROW_NUMBER() OVER (PARTITION BY t.a ORDER BY t.a NULLS LAST)"),
])
def test_distinct_on_keeps_the_order_and_limit_of_the_query(duckdb_sql: str, fragment: str) -> None:
    assert fragment in spark_sql(duckdb_sql)


@pytest.mark.parametrize(("duckdb_sql", "fragment"), [
    ("SELECT sum(p) OVER (PARTITION BY i ORDER BY s) AS r FROM t",
     "CAST(sum(t.p) OVER (PARTITION BY t.i ORDER BY t.s NULLS LAST) AS DECIMAL(38, 2))"),
    ("SELECT sum(p) FILTER (WHERE i > 1) AS r FROM t", "CAST(sum(t.p) FILTER(WHERE t.i > 1) AS DECIMAL(38, 2))"),
    ("SELECT string_agg(s, ',' ORDER BY i) OVER (PARTITION BY a) AS r FROM t",
     "CASE WHEN count(t.s) OVER (PARTITION BY t.a) = 0 THEN NULL ELSE array_join(transform(array_sort("
     "collect_list(struct(t.i AS k0, t.s AS v)) OVER (PARTITION BY t.a)"),
])
def test_an_aggregate_rewrite_keeps_over_and_filter_on_the_aggregate_call(duckdb_sql: str, fragment: str) -> None:
    # the issue: `CAST(sum(x) AS DECIMAL(38, 2)) OVER (...)`, which Spark cannot parse ([PARSE_SYNTAX_ERROR])
    sql = spark_sql(duckdb_sql)
    assert fragment in sql
    assert ") OVER" not in sql.replace(f"{fragment}", "")
    sqlglot.parse_one(sql, read="spark")  # and it is SQL Spark's grammar accepts


@pytest.mark.parametrize("duckdb_sql", [
    "SELECT len(array_agg(s)) AS n FROM t", "SELECT len(list(s)) AS n FROM t GROUP BY a",
    "SELECT array_length(array_agg(DISTINCT s)) AS n FROM t",
    "SELECT len(array_agg(s) FILTER (WHERE i > 1)) AS n FROM t", "SELECT len(array_agg(s) OVER (PARTITION BY a)) AS n FROM t",
])
def test_the_length_of_an_unordered_list_aggregate_is_a_count_not_a_refusal(duckdb_sql: str) -> None:
    translated = transpile(duckdb_sql, schema=SCHEMA)
    assert not translated.refused, [finding.message() for finding in translated.findings]
    assert "collect_list" not in translated.sql.lower() and "NULLIF(" in translated.sql
    assert "length_of_list_agg" in translated.rewrites


def test_a_list_aggregate_used_for_more_than_its_length_is_still_refused_unordered() -> None:
    assert [f.rule.id for f in transpile("SELECT array_agg(s)[1] AS n FROM t", schema=SCHEMA).findings] == [
        "unordered_list_agg"]


@pytest.mark.parametrize(("duckdb_sql", "rule", "column"), [
    ("SELECT CAST(p / i AS VARCHAR) AS v FROM t", "double_to_text", 8),  # a DOUBLE on DuckDB: '7.4e-05' vs '7.4E-5'
    ("SELECT a, (p / 1000 + 1)::TEXT AS v FROM t", "double_to_text", 11),
    ("SELECT 'x' || x AS v FROM t", "double_to_text", 8),
    ("SELECT concat(s, ' ', x) AS v FROM t", "double_to_text", 8),
    ("SELECT CAST(l AS VARCHAR) AS v FROM t", "nested_to_text", 8),
])
def test_numbers_and_lists_the_engines_print_differently_are_refused_as_text(duckdb_sql: str, rule: str,
                                                                              column: int) -> None:
    (finding,) = transpile(duckdb_sql, schema=SCHEMA).findings
    assert (finding.rule.id, finding.line, finding.column) == (rule, 1, column)
    assert "t." not in finding.construct  # as the user wrote it, not as the typing qualified it


def test_text_the_engines_print_alike_is_accepted() -> None:
    assert not transpile("SELECT CAST(p AS VARCHAR) AS a, 'n' || i AS b, CAST(d AS VARCHAR) AS c, "
                         "l || l AS d FROM t", schema=SCHEMA).refused


def test_reverse_of_text_is_refused_whatever_the_text_and_a_list_still_reverses() -> None:
    # Java's grapheme clusters are not DuckDB's for every script, and the lint cannot see the data
    for sql in ("SELECT a,\n  reverse(s) AS r FROM t", "SELECT a,\n  reverse('abc') AS r FROM t"):
        (finding,) = transpile(sql, schema=SCHEMA).findings
        assert (finding.rule.id, finding.line, finding.column) == ("reverse", 2, 3)
        assert "'क्षि' is one cluster in DuckDB, two in Java 17" in finding.message()
        assert finding.hint().startswith("reverse the text on DuckDB (run the step there), or reverse a list with "
                                         "`list_reverse(l)`")
    listed = transpile("SELECT list_reverse(l) AS r, array_reverse(l) AS a FROM t", schema=SCHEMA)
    assert not listed.refused and listed.rewrites == ["list_functions"]


@pytest.mark.parametrize(("fmt", "detail"), [
    ("%x %Y", "the year given twice"),  # DuckDB keeps the last: a format that says two things
    ("%Y %j %m", "a day of the year with a month or a day"),  # DuckDB then ignores the day of the year
    ("%H:%M %p", "%H with %I or %p"),
    ("%M %p", "%p without %I"),
    ("%Y ", "a format starting or ending with a space"),
    ("%d/%m/%y", "%y"),
])
def test_strptime_formats_duckdb_reads_ambiguously_are_refused_with_the_reason(fmt: str, detail: str) -> None:
    (finding,) = transpile(f"SELECT try_strptime(s, '{fmt}') AS r FROM t", schema=SCHEMA).findings
    assert (finding.rule.id, finding.detail) == ("strptime", detail)


def test_an_alias_list_on_generate_series_gives_one_finding_with_a_line() -> None:
    findings = transpile("SELECT x FROM generate_series(1, 3) AS g(x)").findings
    assert [(f.rule.id, f.line, f.column) for f in findings] == [("table_function_range", 1, 15)]


def test_every_hint_reads_as_an_instruction_and_names_its_rule() -> None:
    for rule in RULES.values():
        hint = Finding(rule, 1, 1, "x").hint()
        assert not hint.startswith(("on Spark", "none")) and "on Spark use" not in hint
        assert hint.endswith(f"(rule `{rule.id}`, see docs/spark.md)")
    refused = transpile("SELECT bar(s) AS b FROM t", schema=SCHEMA).findings[0]
    assert refused.hint().startswith("rewrite it with functions both engines have")


def test_an_unnamed_output_is_refused_without_talking_about_count_star() -> None:
    (finding,) = transpile("SELECT a + 1 FROM unknown_table").findings  # its types, so DuckDB's name, unknown
    assert finding.rule.id == "unnamed_output" and "count_star" not in finding.message() + finding.hint()


def test_qualify_stays_native_so_select_star_leaks_no_helper_column() -> None:
    sql = spark_sql("SELECT * FROM t QUALIFY row_number() OVER (PARTITION BY a ORDER BY b) = 1")
    assert "QUALIFY ROW_NUMBER()" in sql and "_w" not in sql


def test_plain_constructs_are_left_to_sqlglot() -> None:
    translated = transpile("SELECT a, count(*) AS n FROM t WHERE s LIKE 'x%' GROUP BY ALL ORDER BY ALL", schema=SCHEMA)
    assert translated.rewrites == [] and not translated.refused
    assert translated.sql.endswith("GROUP BY ALL ORDER BY ALL NULLS LAST\n) AS __fd_output(`__fd_c0`, `__fd_c1`)")


@pytest.mark.parametrize("case", [case for case in CASES if case.verdict != "same"], ids=lambda case: case.name)
def test_lint_refuses_each_refused_corpus_case_without_a_jvm(case) -> None:
    refused = {finding.rule.id for finding in transpile(case.sql, schema=CORPUS_SCHEMA).findings}
    assert case.verdict in refused


def test_type_dependent_constructs_are_refused_when_the_type_is_unknown() -> None:
    translated = transpile("SELECT len(c) AS n, c[1] AS f, epoch(c) AS e FROM unknown_table")
    assert [finding.rule.id for finding in translated.findings] == ["unknown_type"] * 3


def test_a_finding_points_at_the_line_and_column_of_the_construct() -> None:
    translated = transpile("SELECT\n    a,\n    hash(s) AS h\nFROM t", schema=SCHEMA)
    (finding,) = translated.findings
    assert (finding.rule.id, finding.line, finding.column) == ("hash", 3, 5)


def test_limit_zero_keeps_no_row_so_it_needs_no_order() -> None:
    assert not transpile("SELECT * FROM t LIMIT 0", schema=SCHEMA).refused
    assert transpile("SELECT * FROM t LIMIT 1", schema=SCHEMA).refused


def test_unnamed_outputs_are_refused_only_where_they_name_a_table_column_duckdb_cannot_name() -> None:
    assert transpile("SELECT count(*) FROM unknown_table", output=True).refused
    assert not transpile("SELECT count(*) FROM unknown_table", output=False).refused
    assert not transpile("SELECT count(*) FROM t", schema=SCHEMA, output=True).refused  # named as DuckDB names it


@pytest.mark.parametrize(("duckdb_sql", "named_and_typed"), [
    # the issue: values agree, types differ (list lengths and `//` are BIGINT / INTEGER on DuckDB, INT / BIGINT on Spark)
    ("SELECT len(l) AS n, array_length(l) AS m, i // 2 AS h FROM t",
     "CAST(`__fd_c0` AS BIGINT) AS `n`, CAST(`__fd_c1` AS BIGINT) AS `m`, CAST(`__fd_c2` AS INT) AS `h`"),
    ("SELECT count(*), i + 1, sum(p) FROM t GROUP BY i",
     "CAST(`__fd_c0` AS BIGINT) AS `count_star()`, CAST(`__fd_c1` AS INT) AS `(i + 1)`, "
     "CAST(`__fd_c2` AS DECIMAL(38, 2)) AS `sum(p)`"),
    ("SELECT i AS a, s AS a FROM t", "CAST(`__fd_c0` AS INT) AS `a`, CAST(`__fd_c1` AS STRING) AS `a_1`"),
    ("SELECT sum(i) AS total FROM t", "CAST(`__fd_c0` AS BIGINT) AS `total`"),  # HUGEINT: Spark's widest integer
])
def test_output_columns_get_duckdbs_names_and_types(duckdb_sql: str, named_and_typed: str) -> None:
    sql = spark_sql(duckdb_sql)
    assert sql.startswith(f"SELECT {named_and_typed} FROM (")
    sqlglot.parse_one(sql, read="spark")


@pytest.mark.parametrize(("duckdb_sql", "detail"), [
    ("SELECT ts - ts AS gap FROM t", "column `gap` is INTERVAL"),
    ("SELECT gen_random_uuid() AS u FROM t", "column `u` is UUID"),
    ("SELECT ts::TIME AS clock FROM t", "column `clock` is TIME"),
])
def test_an_output_type_spark_cannot_hold_is_refused(duckdb_sql: str, detail: str) -> None:
    (finding,) = transpile(duckdb_sql, schema=SCHEMA).findings
    assert finding.rule.id == "output_type" and finding.detail == detail


@pytest.mark.parametrize(("re2", "java", "shift"), [
    ("\\1-\\2", "$1-$2", 0), ("\\0", "$2", 2), ("$5", "\\$5", 0), ("a\\\\b", "a\\\\b", 0),
])
def test_regexp_replacements_are_translated_from_re2_to_java(re2: str, java: str, shift: int) -> None:
    assert _java_replacement(re2, shift=shift) == java


# words the docs write as calls that are not SQL: Python (`group_by(...).aggregate(...)`, `map(json.loads, ...)`,
# `Workspace.stats(...)`) and prose ("error (default)", "a new day (", "half a minute (")
NOT_SQL_CALLS = {"aggregate", "map", "stats", "error", "day", "minute"}


def test_the_corpus_covers_every_duckdb_function_the_docs_and_the_example_pipelines_name() -> None:
    import duckdb

    known = {row[0] for row in duckdb.connect().execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions()"
                                                        ).fetchall()}
    texts = [path.read_text() for pattern in ("pipelines/**/*.sql", "pipelines/**/*.yaml",
                                              "engine/operations/templates/**/*.sql",
                                              "engine/operations/templates/**/*.yaml") for path in REPO.glob(pattern)]
    for path in (REPO / "docs").glob("*.md"):  # the SQL of the docs: code blocks and `inline code`
        text = path.read_text()
        texts += re.findall(r"```.*?```", text, re.DOTALL) + re.findall(r"`[^`\n]+`", text)
    named = {name.lower() for text in texts for name in re.findall(r"\b([A-Za-z_]\w*)\s*\(", text)} & known
    covered = {name.lower() for case in CASES for name in re.findall(r"\b([A-Za-z_]\w*)\s*\(", case.sql)}
    assert len(named) >= 50
    assert named - NOT_SQL_CALLS - covered == set(), "add a case to tests/spark/corpus.py for each"


def test_every_rule_has_an_alternative_and_the_docs_list_them_all() -> None:
    assert all(rule.alternative and rule.why and rule.action in ("rewrite", "refuse") for rule in RULES.values())
    docs = (REPO / "docs" / "spark.md").read_text()
    assert rules_markdown() in docs, "regenerate the tables: python -m flowdeck.engine.backends.spark.rules"


def test_importing_the_engine_and_the_lint_never_imports_pyspark() -> None:
    code = ("import sys, flowdeck.engine, flowdeck.engine.workspace, flowdeck.engine.run.executor, "
            "flowdeck.engine.backends.spark.lint, flowdeck.engine.backends.spark.transpile; print(json.dumps(sorted(m for m in sys.modules if m.startswith('pyspark'))))")
    result = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, cwd=REPO,
                            check=True)
    assert json.loads(result.stdout) == []


def flowdeck(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), *arguments],
                          capture_output=True, text=True, cwd=REPO, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1",
                                                                         "COLUMNS": "200"})


def test_validate_engine_spark_accepts_the_example_and_names_the_rewrites(example_project: Path) -> None:
    result = flowdeck(example_project, "validate", "--engine", "spark")
    assert result.returncode == 0, result.stderr
    assert "daily_sales (8 steps, runs on spark; on spark, rewritten: avg_decimal, case_mapping, cast_text_to_integer, strptime" in result.stdout


def test_validate_and_run_refuse_unfaithful_sql_with_file_line_and_alternative(example_project: Path) -> None:
    sql = example_project / "pipelines" / "daily_sales" / "daily_sales.sql"
    sql.write_text(sql.read_text().replace("    sum(amount)                   AS revenue",
                                           "    sum(amount)                   AS revenue,\n    any_value(segment) AS seg"))
    line = sql.read_text().splitlines().index("    any_value(segment) AS seg") + 1
    result = flowdeck(example_project, "validate", "daily_sales", "--engine", "spark")
    assert result.returncode == 2
    assert f"daily_sales.sql:{line}:5: step `daily_sales`: `ANY_VALUE(segment)` cannot run on Spark" in result.stderr
    assert "hint: use `min(x)`, `max(x)`, or `arg_min(x, key)`" in result.stderr
    assert flowdeck(example_project, "validate", "daily_sales").returncode == 0  # DuckDB runs it as it is
    run = flowdeck(example_project, "run", "daily_sales", "--engine", "spark")
    assert run.returncode == 2 and "any_value" in run.stderr.lower()
    assert json.loads(flowdeck(example_project, "runs", "--json").stdout) == []  # refused before queuing


def test_spark_sources_refuse_options_the_spark_reader_cannot_honour(example_project: Path) -> None:
    pipeline = example_project / "pipelines" / "daily_sales" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("{header: true, all_varchar: true}",
                                                     "{header: true, all_varchar: true, sample_size: 10}"))
    result = flowdeck(example_project, "validate", "daily_sales", "--engine", "spark")
    assert result.returncode == 2
    assert "pipeline.yaml:" in result.stderr and "option `sample_size` of a csv source" in result.stderr


def test_the_engine_is_a_checked_project_setting(example_project: Path) -> None:
    config = example_project / "flowdeck.yaml"
    config.write_text(config.read_text().replace("engine: duckdb", "engine: sprak"))
    result = flowdeck(example_project, "validate")
    assert result.returncode == 2 and "flowdeck.yaml" in result.stderr and "engine" in result.stderr


def test_the_ledger_records_which_engine_ran_each_step(tmp_path: Path) -> None:
    from flowdeck.state import Ledger

    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        run, _ = ledger.create_run("p", trigger_kind="manual", params={})
        ledger.add_steps(run.run_id, [("a", "transform", "a"), ("b", "transform", "b")])
        ledger.step_started(run.run_id, "a", engine="spark")
        ledger.step_started(run.run_id, "b")
        steps = {step.step: step for step in ledger.steps_of(run.run_id)}
        assert (steps["a"].engine, steps["b"].engine) == ("spark", None)
        assert steps["a"].to_json()["engine"] == "spark"
        assert "on spark" in ledger.events(run_id=run.run_id)[-2].message


@pytest.mark.parametrize("path", ["/etc/passwd", "data/../../outside.csv", ".flowdeck/ledger.sqlite", "."])
def test_a_query_reading_a_file_outside_the_project_is_refused_for_spark(tmp_path: Path, path: str) -> None:
    from flowdeck.engine.backends.spark.file_functions import ProjectFiles
    from flowdeck.engine.errors import SqlError

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a\n1\n")
    inside = transpile("SELECT a FROM read_csv('data/x.csv')", files=ProjectFiles(tmp_path))
    assert inside.rewrites == ["file_function"] and "__fd_files_" in inside.sql  # read through a view
    with pytest.raises(SqlError, match="not a file of the project"):  # Spark has no confinement of its own
        transpile(f"SELECT * FROM read_csv('{path}')", files=ProjectFiles(tmp_path))


@pytest.mark.parametrize(("duckdb_sql", "order"), [
    ("SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b DESC", "WHERE _row_number = 1 ORDER BY a NULLS LAST, b DESC"),
    ("SELECT DISTINCT ON (a) * FROM t ORDER BY a, i", "WHERE _row_number = 1 ORDER BY a NULLS LAST, i NULLS LAST"),
])
def test_distinct_on_keeps_the_order_by_of_the_query(duckdb_sql: str, order: str) -> None:
    # sqlglot moves the ORDER BY into the row_number window only: the rows came back in the order of Spark's
    # partitions, which was the right order only while one partition held them all
    assert f"{order}\n)" in spark_sql(duckdb_sql)


@pytest.mark.parametrize("function", ["upper", "lower"])
def test_the_case_table_spark_translates_with_is_duckdbs_mapping_of_whole_texts(function: str) -> None:
    """Spark's translate maps one character to one, out of context: that is DuckDB's upper/lower of a whole
    text (every character, next to its neighbours: no final sigma, no 'SS'), so translating is exact."""
    import duckdb

    from flowdeck.engine.backends.spark.case_mapping import duckdb_case_mapping

    changed, mapped = duckdb_case_mapping(function)
    table = str.maketrans(changed, mapped)
    every = "".join(chr(point) for point in range(1, 0x30000) if not 0xD800 <= point <= 0xDFFF)
    samples = [every, "Straße ΟΔΟΣ ΑΣ İstanbul ﬁne ǅemal ᾳ", "straße οδος ας i̇stanbul"]
    with duckdb.connect() as connection:
        for text in samples:
            (expected,) = connection.execute(f"SELECT {function}(?)", [text]).fetchone() or (None,)
            assert text.translate(table) == expected
