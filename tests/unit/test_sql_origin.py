"""A position in the SQL an engine ran (a translation) is mapped back to the line the user wrote."""

from __future__ import annotations

from pathlib import Path

from flowdeck.engine.errors import StepFailed, TranslatedSql, UnknownColumn
from flowdeck.engine.sql.origin import index_of, located, written_position

WRITTEN = """SELECT day,
       sum(amount) OVER (PARTITION BY day) AS running,  -- over the day
       'over' AS label,
       sum(amount) OVER (ORDER BY day) AS total
FROM sales
"""
# what the Spark translation looked like: a CAST the rewrite added, one long line
RAN = ("SELECT day, CAST(SUM(amount) AS DECIMAL(38, 2)) OVER (PARTITION BY day) AS running, 'over' AS label, "
       "CAST(SUM(amount) AS DECIMAL(38, 2)) OVER (ORDER BY day) AS total FROM sales")


def test_the_word_at_the_engines_position_is_found_at_the_same_count_in_the_written_text() -> None:
    second_over = RAN.index("OVER (ORDER")
    assert written_position(WRITTEN, RAN, second_over) == (4, 20)  # not the comment's nor the string's "over"
    assert written_position(WRITTEN, RAN, RAN.index("OVER")) == (2, 20)
    # Spark's syntax error points at the parenthesis after OVER: the word before it is meant
    assert written_position(WRITTEN, RAN, RAN.index("(ORDER")) == (4, 20)


def test_a_word_the_rewrite_made_up_falls_back_to_the_names_the_engine_quoted() -> None:
    assert written_position(WRITTEN, RAN, RAN.index("CAST")) is None
    assert written_position(WRITTEN, RAN, RAN.index("CAST"), names=("`spark_catalog`.`default`.`sales`",)) == (5, 6)
    assert written_position(WRITTEN, RAN, None, names=("amount",)) == (2, 12)


def test_sparks_line_and_pos_is_an_index_into_the_sql() -> None:
    assert index_of("SELECT 1\nFROM t", 2, 5) == 14
    assert index_of("SELECT 1", 3, 0) is None


def test_a_located_error_names_the_step_the_file_and_line_and_shows_the_sql_that_ran() -> None:
    error = StepFailed("building totals: [PARSE_SYNTAX_ERROR] Syntax error at or near 'OVER'",
                       ran=TranslatedSql(RAN, RAN.index("OVER (ORDER")), hint="see docs/spark.md")
    text = located(error, "totals", Path("pipelines/p/totals.sql"), WRITTEN).render()
    assert text.startswith("pipelines/p/totals.sql:4:20: step `totals`: building totals: [PARSE_SYNTAX_ERROR]")
    assert "    4 |        sum(amount) OVER (ORDER BY day) AS total" in text
    ran_line = f"  {RAN}"
    caret = "  " + " " * RAN.index("OVER (ORDER") + "^"
    assert f"the SQL that ran:\n{ran_line}\n{caret}" in text
    assert text.endswith("hint: see docs/spark.md")


def test_a_located_unknown_column_stays_one_so_the_step_can_name_the_tables_it_reads() -> None:
    error = UnknownColumn("building totals: [UNRESOLVED_COLUMN] `amout`", ran=TranslatedSql(RAN, None, ("`amount`",)))
    assert isinstance(located(error, "totals", Path("totals.sql"), WRITTEN), UnknownColumn)
    plain = StepFailed("cannot open the warehouse")
    assert located(plain, "totals", Path("totals.sql"), WRITTEN) is plain  # nothing translated: as it was


def test_an_engine_refusal_names_the_query_line_then_the_file_it_came_from(tmp_path: Path) -> None:
    from flowdeck.engine.errors import EngineRefusal

    refusal = EngineRefusal("`REVERSE(note)` cannot run on Spark with the same result", line=2, column=8,
                            hint="reverse the text on DuckDB")
    assert refusal.render().startswith("line 2: `REVERSE(note)` cannot")  # a query typed on the command line
    file = tmp_path / "notes.sql"
    text = "-- notes\n\nSELECT order_id,\n       reverse(note) AS backwards\nFROM sales\n"
    shown = refusal.in_file(file, text, first_line=3)  # the query's first line is the file's third
    assert shown.render().splitlines()[0] == f"{file}:4:8: `REVERSE(note)` cannot run on Spark with the same result"
    assert "reverse(note) AS backwards" in shown.render() and "hint: reverse the text on DuckDB" in shown.render()
    rewritten = refusal.in_file(file, text, first_line=None)  # its lines are not the file's: the file alone
    assert rewritten.render().splitlines()[0] == f"{file}: `REVERSE(note)` cannot run on Spark with the same result"
