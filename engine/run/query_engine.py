"""Which engine a read-only query (``flowdeck query``, the console's preview) reads: the one holding its tables' current versions.

DuckDB and Spark keep separate warehouses. After ``flowdeck run X --engine spark`` the DuckDB
warehouse still holds X's tables as an older run left them; reading those rows without saying
so would be silently stale. The ledger knows, per table, which warehouse committed its newest
version and which engine published into that warehouse, so a query goes where its tables are
current, and says where it went. An explicit engine is obeyed, with a warning naming every
table whose current version is on the other engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flowdeck.engine.errors import FlowdeckError

if TYPE_CHECKING:
    from flowdeck.state.ledger import Ledger
    from flowdeck.state.records import CommitRecord

ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class EngineChoice:
    """The engine a query reads, why (one line for the operator), and the tables it reads stale there."""

    engine: str
    reason: str
    stale: list[str] = field(default_factory=list)
    only_duckdb: bool = False  # nothing was ever published on Spark, nor is it configured: nothing to tell apart


def choose_engine(ledger: Ledger, sql: str, *, configured: str, requested: str | None = None) -> EngineChoice:
    """The engine to read ``sql`` on: ``requested`` if given (warning of stale tables), else the engine
    holding the current version of every table it reads, else ``configured`` (``engine:`` in
    flowdeck.yaml) when none of them was ever published."""
    if requested is not None and requested not in ENGINES:
        raise FlowdeckError(f"unknown engine `{requested}`", hint=f"use one of: {', '.join(ENGINES)}")
    engines = ledger.publishing_engines()
    if requested is not None and engines <= {requested}:
        return EngineChoice(requested, f"read on {requested} (--engine)")
    if requested is None and len(engines) < 2:  # one engine published every table: no need to parse the query
        engine = next(iter(engines), configured)
        how = "every table was published there" if engines else "engine: in flowdeck.yaml"
        return EngineChoice(engine, f"read on {engine} ({how})", only_duckdb=engine == configured == "duckdb")
    current = ledger.current_commits(sorted(_tables_of(sql)))
    if requested is not None:
        stale = [f"{table}: its current version is on {engine} (published by run {commit.data_run_id}); "
                 f"the rows read on {requested} are older or missing"
                 for table, (engine, commit) in sorted(current.items()) if engine != requested]
        return EngineChoice(requested, f"read on {requested} (--engine)", stale)
    by_engine: dict[str, list[str]] = {}
    for table, (engine, _) in sorted(current.items()):
        by_engine.setdefault(engine, []).append(table)
    if len(by_engine) > 1:
        where = "; ".join(f"{', '.join(tables)} on {engine}" for engine, tables in sorted(by_engine.items()))
        raise FlowdeckError(
            f"the tables this query reads are current on different engines: {where}",
            hint="rerun the pipelines on one engine, or pass --engine to read one engine's versions "
                 "(the others' rows there are older)")
    if by_engine:
        engine = next(iter(by_engine))
        return EngineChoice(engine, f"read on {engine}, where {_published(current)}")
    return EngineChoice(configured, f"read on {configured} (engine: in flowdeck.yaml)")


def _published(current: dict[str, tuple[str, CommitRecord]]) -> str:
    """``daily_sales was last published (run …)``, for the tables of a query."""
    tables = sorted(current)
    if len(tables) == 1:
        return f"{tables[0]} was last published (run {current[tables[0]][1].data_run_id})"
    return f"{', '.join(tables)} were last published"


def _tables_of(sql: str) -> set[str]:
    """The tables ``sql`` reads (none when sqlglot cannot parse it: the engine then reports the error)."""
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    from flowdeck.engine.sql.analysis import tables_read
    from flowdeck.engine.sql.render import RUN_DIALECT

    try:
        return tables_read(sqlglot.parse_one(sql, read=RUN_DIALECT))
    except (ParseError, TokenError):
        return set()
