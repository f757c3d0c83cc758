"""The one place that picks the engine and opens its backend, for each purpose the core has.

A run writes on the engine its ``--engine`` option names, else the project's `engine:`;
everything else (read-only queries and previews, versions, rollback, cleanup) goes to the
project's engine. On DuckDB, a writer waits while another process holds the warehouse file
(``on_wait`` is told who holds it, see ``run.waiting``) and a reader opens it read-only. Spark
has no such lock, and runs DuckDB-dialect SQL transpiled: what it would run differently is
refused before a Spark run is queued (its lint). The engines' modules are imported when they
are used, so neither DuckDB, sqlglot nor pyspark loads for a command that uses none.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flowdeck.engine.backends.base import Backend
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.plan.planner import Plan
from flowdeck.engine.project.project import Project

if TYPE_CHECKING:  # named here for the front door too, so that only this module names the engines' own modules
    from flowdeck.engine.backends.duckdb.seal import WarehouseFacts
    from flowdeck.engine.backends.spark.lint import LintReport as LintReport

Purpose = Literal["run", "read", "maintain"]
OnWait = Callable[[int | None, float], None]  # (holder pid, seconds waited): a run.waiting.WarehouseWait


def engine_of(project: Project, options: dict[str, Any] | None = None) -> str:
    """Which engine a run uses: its ``engine`` option (``--engine``), else the project's `engine:`."""
    return str((options or {}).get("engine") or project.config.engine)


def open_backend(project: Project, purpose: Purpose, *, engine: str | None = None, on_wait: OnWait | None = None,
                 wait: float | None = None, temp_dir: Path | None = None, reads_prod: bool = True,
                 progress_threads: int = 0) -> Backend:
    """A backend for ``purpose``: ``run`` (a run's writer, spilling into ``temp_dir``), ``read``
    (read-only queries and versions, waiting up to ``wait`` seconds for a writer) or ``maintain``
    (rollback and cleanup: a writer). ``engine`` is a run's choice, or a read's (``run.query_engine``: where
    the tables are current); otherwise the project's. A development environment's warehouse reads prod's
    (attached read-only) unless ``reads_prod`` is false (only its own tables are looked at). A run's writer
    gives ``progress_threads`` threads (its own and its step threads) cursors that report their query's
    progress: DuckDB's setting is per cursor and cannot be set once the configuration is locked, so they are
    made here, and only as many as the run can use (each costs DuckDB three statements)."""
    if (engine or engine_of(project)) == "spark":
        from flowdeck.engine.backends.spark.backend import open_spark_backend  # pyspark: only for Spark

        return open_spark_backend(project)
    from flowdeck.engine.backends.duckdb.backend import DuckDBBackend, progress_cursors
    from flowdeck.engine.backends.duckdb.warehouse import open_warehouse

    if purpose == "read":
        return DuckDBBackend(open_warehouse(project, read_only=True, timeout=wait, on_wait=on_wait,
                                            reads_prod=reads_prod), read_only=True)
    project.ensure_runtime_dirs()
    cursors: list[Any] = []

    def prepare(connection: Any) -> None:  # before open_warehouse locks the configuration (confinement.py)
        cursors.extend(progress_cursors(connection, progress_threads))

    connection = open_warehouse(project, on_wait=on_wait, temp_directory=temp_dir or project.temp_dir,
                                before_lock=prepare)
    return DuckDBBackend(connection, cursors=cursors)


def sealed_warehouse(project: Project, engine: str) -> WarehouseFacts | None:
    """What the warehouse's seal says while the DuckDB file is untouched since a run sealed it (its tables,
    id and last commit), read without opening it (``backends/duckdb/seal.py``); None otherwise, and on Spark."""
    if engine != "duckdb":
        return None
    from flowdeck.engine.backends.duckdb.seal import read_seal  # reads a small file; imports no DuckDB

    seal = read_seal(project.warehouse_path)
    return seal.facts if seal is not None else None


def open_beside(project: Project, other: Path, *, name: str, read_only: bool, wait: float | None = None,
                on_wait: OnWait | None = None, attach_as: str | None = None) -> Backend:
    """The project's DuckDB warehouse (read-only, or for writing) with the warehouse file ``other`` attached
    read-only as ``name`` (decrypted with the project's key when the warehouse is encrypted); with
    ``attach_as`` the project's warehouse is itself attached under that name (``open_warehouse``)."""
    from flowdeck.engine.backends.duckdb.backend import DuckDBBackend
    from flowdeck.engine.backends.duckdb.warehouse import open_warehouse
    from flowdeck.engine.secrets import resolve
    from flowdeck.engine.sql.render import identifier, string

    settings = project.config.warehouse
    key = resolve(settings.encryption_key, project) if settings.encrypt else None
    options = "READ_ONLY" + (f", ENCRYPTION_KEY {string(key)}" if key is not None else "")

    def attach(connection: Any) -> None:  # before open_warehouse locks the configuration (confinement.py)
        connection.execute(f"ATTACH {string(str(other))} AS {identifier(name)} ({options})")

    if not read_only:
        project.ensure_runtime_dirs()
    connection = open_warehouse(project, read_only=read_only, timeout=wait, on_wait=on_wait, before_lock=attach,
                                temp_directory=None if read_only else project.temp_dir, attach_as=attach_as)
    return DuckDBBackend(connection, read_only=read_only)


def open_scratch_backend(project: Project, engine: str, folder: Path | None = None) -> Backend:
    """An empty backend of ``engine`` sharing nothing with the warehouse, for a SQL unit test: an in-memory
    DuckDB, or a Spark session of its own whose (unused) warehouse is ``folder``, a scratch folder the caller
    removes (Spark needs one)."""
    if engine == "spark":
        if folder is None:
            raise ValueError("a scratch Spark backend needs a scratch folder")
        from flowdeck.engine.backends.spark.backend import open_scratch_spark_backend  # pyspark: only for Spark

        return open_scratch_spark_backend(project, folder)
    from flowdeck.engine.backends.duckdb.backend import DuckDBBackend
    from flowdeck.engine.backends.duckdb.warehouse import open_scratch

    return DuckDBBackend(open_scratch(project))


def serve_spark(project: Project) -> str:
    """Start the Spark driver in this process (master mode), warm it, and announce it, so the project's runs,
    queries and console in other processes reuse it instead of starting a JVM (``backends/spark/served.py``);
    its Connect URL. Call ``stop_serving_spark`` when this process stops serving."""
    settings = project.config.spark
    if settings.remote:
        raise FlowdeckError(f"spark.remote is set: runs use the Spark Connect server {settings.remote}, "
                            "there is nothing to keep warm here",
                            hint="keeping Spark warm is for master mode (spark.master)")
    from flowdeck.engine.backends.spark.served import serve  # pyspark: only for Spark

    return serve(project.runtime_dir, settings).url


def stop_serving_spark(project: Project) -> None:
    """No longer announce this process's Spark driver to the project (it stops with the process)."""
    from flowdeck.engine.backends.spark.served import withdraw

    withdraw(project.runtime_dir)


def open_catalog(project: Project, *, wait: float) -> Backend | None:
    """A read-only backend to list the warehouse's tables and columns from (lineage), or None on Spark,
    where lineage works from the SQL alone rather than start a Spark session for a listing."""
    if engine_of(project) == "spark":
        return None
    return open_backend(project, "read", wait=wait)


def refuse_engine_differences(project: Project, plan: Plan, engine: str) -> None:
    """Raise the Spark lint's refusal when ``engine`` is Spark and ``plan`` uses constructs it would run
    differently; DuckDB runs the SQL as written."""
    if engine == "spark":
        report = spark_lint(project, plan)
        if not report.ok:
            raise report.error()


def spark_lint(project: Project, plan: Plan) -> LintReport:
    """What the Spark lint refuses (and rewrites) in ``plan``, without running anything."""
    from flowdeck.engine.backends.spark.lint import lint_plan  # sqlglot: only for Spark

    return lint_plan(project, plan)
