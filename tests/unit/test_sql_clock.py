"""The clock of a query fixed by a sqlglot rewrite (engine/sql/clock.py): what SQL unit tests' `now:` does."""

from __future__ import annotations

from datetime import date, datetime, time

import duckdb
import pytest

from flowdeck.engine.sql.clock import fix_clock, reads_the_clock

NOW = datetime(2026, 11, 1, 6, 30, 5)


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT now()", NOW), ("SELECT current_timestamp", NOW), ("SELECT get_current_timestamp()", NOW),
    ("SELECT transaction_timestamp()", NOW), ("SELECT localtimestamp", NOW),
    ("SELECT current_date", date(2026, 11, 1)), ("SELECT today()", date(2026, 11, 1)),
    ("SELECT current_time", time(6, 30, 5)),
    ("SELECT current_date - INTERVAL 1 DAY", datetime(2026, 10, 31)),
])
def test_every_function_of_the_clock_gives_the_fixed_time(sql: str, expected: object) -> None:
    assert reads_the_clock(sql)
    fixed = fix_clock(sql, NOW)
    assert not reads_the_clock(fixed)
    assert duckdb.sql(fixed).fetchall() == [(expected,)]


def test_a_query_that_does_not_read_the_clock_is_left_as_written() -> None:
    sql = "SELECT 'now()' AS said, now_col FROM t -- current_date\nWHERE x = 1"
    assert not reads_the_clock(sql)
    assert fix_clock(sql, NOW) == sql
