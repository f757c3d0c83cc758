"""The clock in a query: whether it reads the time (``now()``, ``current_date`` ...), and the query with a fixed time.

A SQL unit test fixes "now" so that a step filtering on the last day gives the same rows every
day: the query is rewritten with sqlglot, each function of the clock replaced by a literal of the
fixed time (written by ``engine.sql.render``), rather than changing how DuckDB tells the time.
"""

from __future__ import annotations

from datetime import datetime

import sqlglot
from sqlglot import exp

from flowdeck.engine.sql.analysis import DIALECT
from flowdeck.engine.sql.render import date, string, timestamp

# DuckDB's functions of the clock that sqlglot does not parse into one of its own expressions
_TIMESTAMP_FUNCTIONS = {"NOW", "GET_CURRENT_TIMESTAMP", "TRANSACTION_TIMESTAMP", "CURRENT_LOCALTIMESTAMP"}
_DATE_FUNCTIONS = {"TODAY"}
_TIME_FUNCTIONS = {"GET_CURRENT_TIME", "CURRENT_LOCALTIME"}
CLOCK_NAMES = ("now()", "current_timestamp", "current_date", "today()", "current_time", "get_current_timestamp()",
               "transaction_timestamp()", "localtimestamp")


def _clock_kind(node: exp.Expr) -> str | None:
    """``timestamp``, ``date`` or ``time`` when ``node`` asks the clock for one, else None."""
    if isinstance(node, (exp.CurrentTimestamp, exp.Localtimestamp)):
        return "timestamp"
    if isinstance(node, exp.CurrentDate):
        return "date"
    if isinstance(node, exp.CurrentTime):
        return "time"
    if isinstance(node, exp.Anonymous):
        name = str(node.this).upper()
        if name in _TIMESTAMP_FUNCTIONS:
            return "timestamp"
        if name in _DATE_FUNCTIONS:
            return "date"
        if name in _TIME_FUNCTIONS:
            return "time"
    return None


def reads_the_clock(sql: str) -> bool:
    """Whether the (DuckDB) query ``sql`` asks for the current time or date anywhere."""
    return any(_clock_kind(node) for node in sqlglot.parse_one(sql, read=DIALECT).walk())


def fix_clock(sql: str, now: datetime) -> str:
    """``sql`` with every function of the clock replaced by ``now`` (a timestamp; its date for current_date,
    its time of day for current_time); the text unchanged when the query does not read the clock."""
    tree = sqlglot.parse_one(sql, read=DIALECT)
    if not any(_clock_kind(node) for node in tree.walk()):
        return sql
    literals = {
        "timestamp": timestamp(now),
        "date": date(now.date()),
        "time": f"CAST({string(now.time().isoformat())} AS TIME)",
    }

    def replace(node: exp.Expr) -> exp.Expr:
        kind = _clock_kind(node)
        return sqlglot.parse_one(literals[kind], read=DIALECT) if kind else node

    return tree.transform(replace).sql(dialect=DIALECT)
