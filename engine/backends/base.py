"""The backend interface: how a step stages, checks, publishes and exports its data.

The run executor only talks to a ``Backend``; which database does the work (DuckDB, Spark)
is the backend's business. Every method is safe to call from several threads at once.

The SQL the run layer hands a backend (steps' queries, checks, incremental batches, the
relation names it quotes) is DuckDB's dialect, written through ``engine.sql.render``. The
DuckDB backend runs it as it is; the Spark backend transpiles it to Spark SQL with sqlglot
(``engine.backends.spark.transpile``) and writes its own statements in Spark's dialect.

What the engine relies on for safe reruns (docs/rerunning.md):
- ``publish`` is atomic: the new data (or the merged batch), the previous version kept
  aside, and the commit marker become visible together or not at all;
- commit markers are numbered in commit order and can be read back (``commit_markers``);
- staging objects carry their run's tag (``run_tag``) so leftovers of dead runs can be found.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowdeck.engine.errors import NotFound, StepFailed
from flowdeck.engine.sql.render import identifier

STAGE_PREFIX = "__fd_stage__"
"""The start of every staging object's name (``Backend.stage_name``), so leftovers can be found."""

_STATEMENT_LOGS = threading.local()  # per thread: backend id → the statements it ran for that thread's step


ARROW_RELATION = "__fd_arrow"
"""The name a query given to ``stage_arrow`` reads the incoming Arrow batches under."""


def run_tag(run_id: str) -> str:
    """A run id as it appears in the names of warehouse objects (letters, digits, underscores)."""
    return re.sub(r"[^A-Za-z0-9]", "_", run_id)


@dataclass(frozen=True)
class FileRead:
    """Files to read into a table: resolved paths or globs, a format and reader options."""

    paths: list[str]
    format: str
    options: dict[str, Any] = field(default_factory=dict)
    hive_partitioning: bool = False
    filename: bool = False


@dataclass(frozen=True)
class CommitMarker:
    """What publishing a step writes beside its output, in the same transaction.

    ``state`` is the incremental state the publish carries (files read, watermark, intervals),
    committed with the data it describes. ``seq`` and ``committed_at`` are filled in by the
    backend; ``rows`` and ``checksum`` describe the table after the commit.
    """

    run_id: str
    step: str
    output: str
    rows: int | None
    checksum: str
    kind: str = "publish"  # publish | rollback
    data_run_id: str | None = None  # the run whose data the table holds afterwards (run_id when None)
    base_run_id: str | None = None  # the data an incremental publish merged into (None: replaced whole)
    state: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None
    committed_at: float | None = None


@dataclass(frozen=True)
class Incoming:
    """A table (or view) arriving from another warehouse attached to this one, to publish as ``output``
    (``Backend.publish_together``): ``sql`` selects its rows (a view: is its query), ``marker`` is what
    its commit marker will say (its checksum, when given, must be the rows' own)."""

    output: str
    sql: str
    marker: CommitMarker
    keep_versions: int = 1
    is_view: bool = False


@dataclass(frozen=True)
class MergeSpec:
    """How an incremental batch goes into its table (see ``Backend.publish``).

    The engine has already removed duplicates inside the batch (and, for ``error``, refused
    keys that exist), so the backend only decides, per key, between the table's row and the
    batch's: ``skip`` keeps the table's, ``update`` takes the batch's unless the table's is
    later by ``order_by``, ``keep`` and ``error`` insert every batch row. Keys compare with
    NULL equal to NULL.
    """

    unique_key: tuple[str, ...]
    on_duplicate: str
    order_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableVersion:
    """One version of a published table: the current one or one kept for rollback."""

    output: str
    run_id: str  # the run whose data this version holds
    table: str  # where it lives now (the output's own name for the current version)
    rows: int | None
    checksum: str | None
    published_at: float | None
    current: bool


def rollback_refusal(output: str, to_run_id: str, versions: list[TableVersion]) -> NotFound:
    """Why a rollback of ``output`` to ``to_run_id`` cannot happen, given its ``versions`` (listing the kept ones)."""
    current = next((v for v in versions if v.current), None)
    if current is not None and current.run_id == to_run_id:
        return NotFound(f"table {output} already holds the data of run {to_run_id}", hint="nothing to roll back")
    kept = ", ".join(v.run_id for v in versions if not v.current) or "none"
    return NotFound(
        f"no version of table {output} from run {to_run_id} is kept (kept versions: {kept})",
        hint=f"list them with `flowdeck versions {output}`; older versions are pruned "
        "(keep more with `versions:` on the step or `retention.output_versions`)",
    )


@dataclass(frozen=True)
class Leftover:
    """A staging object in the warehouse and the tag of the run that made it."""

    name: str
    run_tag: str
    is_view: bool = False


@dataclass(frozen=True)
class Staged:
    """A step's output built under a private name, not yet visible under its real one."""

    name: str
    rows: int | None  # None for a view: counting it would run its query
    checksum: str
    is_view: bool = False
    sql: str | None = None
    engine_sql: str | None = None  # the SQL the engine ran, when it is a translation (Spark SQL): shown by `show --sql`


@dataclass(frozen=True)
class QueryResult:
    """Columns and rows of a read-only query, capped at the requested limit."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    engine: str | None = None  # the engine that read it (set by the workspace, which chooses it)
    reason: str = ""  # why that engine, one line for the operator ("" in a project that only ever used DuckDB)
    warnings: tuple[str, ...] = ()  # tables read where their current version is not

    def as_dicts(self) -> list[dict[str, Any]]:
        """Rows as column → value mappings."""
        return [dict(zip(self.columns, row)) for row in self.rows]


@dataclass(frozen=True)
class Failing:
    """How many rows a check query returned, and the first few of them."""

    count: int
    sample: list[dict[str, Any]]


class Backend(ABC):
    """Runs the SQL of steps. Implementations: ``DuckDBBackend`` (default), ``SparkBackend``."""

    name: str = "backend"
    # Whether ties in an incremental batch (two rows of one key, equal by ``order_by``) can be
    # broken by DuckDB's row hash, as docs/rerunning.md promises. A backend that cannot has such
    # ties refused before staging (``incremental.refuse_ambiguous_ties``), never broken otherwise.
    breaks_ties_by_duckdb_hash: bool = True

    @staticmethod
    def stage_name(run_id: str, output: str) -> str:
        """The private name a run builds ``output`` under (the same on every backend)."""
        return f"{STAGE_PREFIX}{output}__{run_tag(run_id)}"

    # -- the SQL a step runs ------------------------------------------------------------------

    def remember_statement(self, purpose: str, sql: str) -> None:
        """Note a statement about to run for the step this thread is running (``stage``, ``view``,
        ``check``), exactly as this engine receives it: the executor records them in the ledger."""
        logs: dict[int, list[tuple[str, str]]] = _STATEMENT_LOGS.__dict__.setdefault("logs", {})
        logs.setdefault(id(self), []).append((purpose, sql))

    def take_statements(self) -> list[tuple[str, str]]:
        """The (purpose, sql) statements this thread ran since the last call, oldest first; forgets them."""
        logs: dict[int, list[tuple[str, str]]] = _STATEMENT_LOGS.__dict__.setdefault("logs", {})
        return logs.pop(id(self), [])

    # -- staging and checks ------------------------------------------------------------------

    @abstractmethod
    def stage_query(self, run_id: str, output: str, sql: str, *, view: bool = False) -> Staged:
        """Build ``sql``'s result (or a view of it) under a staging name for ``output``."""

    @abstractmethod
    def stage_files(self, run_id: str, output: str, read: FileRead) -> Staged:
        """Read files into a staging table for ``output``."""

    def file_query(self, read: FileRead) -> str:
        """The SELECT that ``stage_files`` would run (so a step can rewrite it, e.g. to mask columns)."""
        raise NotImplementedError(f"the {self.name} backend cannot rewrite the query of an extract step")

    def arrow_batches(self, table: str) -> Any:
        """The rows of ``table`` as a pyarrow RecordBatchReader (for writers flowdeck drives itself)."""
        raise NotImplementedError(f"the {self.name} backend cannot stream a table as Arrow batches")

    def stage_arrow(self, run_id: str, output: str, batches: Any, *, sql: str | None = None) -> Staged:
        """Read a pyarrow RecordBatchReader into a staging table for ``output``, one batch at a time.

        ``sql`` is a SELECT over ``ARROW_RELATION`` (the incoming rows) to stage instead of the
        rows as they come (masked, shaped for an incremental merge).
        """
        raise NotImplementedError(f"the {self.name} backend cannot read Arrow batches")

    def relation(self, table: str) -> Any:
        """``table`` as this engine's own lazy relation (a DuckDB relation, a Spark DataFrame), for Python steps."""
        raise NotImplementedError(f"the {self.name} backend cannot hand a table to Python as a relation")

    def stage_relation(self, run_id: str, output: str, relation: Any, *, sql: str | None = None) -> Staged:
        """Stage a relation of this engine (as ``relation`` gives, transformed by a Python step) for ``output``;
        ``sql`` is a SELECT over ``ARROW_RELATION`` (the relation's rows) to stage instead, as for ``stage_arrow``."""
        raise NotImplementedError(f"the {self.name} backend cannot stage a relation")

    @abstractmethod
    def columns(self, relation_sql: str) -> list[tuple[str, str]]:
        """(name, type) of the columns of a (quoted) table name or a SELECT, without reading its rows."""

    @abstractmethod
    def failing_rows(self, sql: str, *, sample: int = 5) -> Failing:
        """Count the rows ``sql`` returns and keep a few (checks return failing rows)."""

    def failing_rows_of(self, sqls: list[str], *, sample: int = 5) -> Iterator[Failing]:
        """``failing_rows`` of each query of ``sqls`` (a step's checks), in order, each run as it is asked for;
        an engine for which each query is costly runs them together."""
        for sql in sqls:
            yield self.failing_rows(sql, sample=sample)

    # -- publishing, versions, markers ---------------------------------------------------------

    def check_same_columns(self, staged: Staged, output: str, step: str) -> None:
        """Fail clearly when an incremental batch's columns differ from its table's (before merging)."""
        new = dict(self.columns(identifier(staged.name)))
        old = dict(self.columns(identifier(output)))
        if set(new) != set(old):
            added = sorted(set(new) - set(old))
            missing = sorted(set(old) - set(new))
            what = "; ".join(part for part in (f"new columns {', '.join(added)}" if added else "",
                                                f"missing columns {', '.join(missing)}" if missing else "") if part)
            raise StepFailed(
                f"step `{step}`: the new rows do not fit table {output} ({what})",
                hint="rebuild the table from all its input with `flowdeck run PIPELINE --from STEP --reprocess`",
            )

    @abstractmethod
    def publish(
        self, staged: Staged, output: str, marker: CommitMarker, *, merge: MergeSpec | None = None,
        keep_versions: int = 1,
    ) -> CommitMarker:
        """Make ``staged`` the data of ``output`` and write ``marker``, all in one transaction.

        Without ``merge`` the staged table replaces ``output``; with it, the staged batch is
        merged into ``output`` (created from the batch when missing). When ``keep_versions`` > 1
        the data ``output`` held before is kept as a version (named for the run whose data it
        is, ``marker.base_run_id`` or the previous marker's data run), and versions beyond the
        newest ``keep_versions - 1`` are dropped. Views are never versioned. Returns the marker
        as committed: its ``seq``, ``committed_at``, and the table's rows and checksum afterwards.
        """

    def publish_together(self, incoming: list[Incoming], *, audit: Callable[[], None] | None = None) -> list[CommitMarker]:
        """Publish every one of ``incoming`` in one transaction: all of them or none (``flowdeck env promote``).

        Each is copied under a staging name and published as ``publish`` does (the data it replaces
        kept as a version), with its marker. ``audit`` runs last, inside the transaction, seeing every
        table as it will be once committed: when it raises, nothing is committed. Returns the markers
        as committed, in the order given.
        """
        raise NotImplementedError(f"the {self.name} backend cannot publish several tables in one transaction")

    @abstractmethod
    def discard(self, staged: Staged) -> None:
        """Drop a staged output that will not be published."""

    @abstractmethod
    def commit_markers(self, after_seq: int = 0) -> list[CommitMarker]:
        """Every commit marker numbered above ``after_seq``, in commit order."""

    @abstractmethod
    def warehouse_id(self) -> str:
        """An id the warehouse keeps for life, so markers of a recreated warehouse are told apart."""

    @abstractmethod
    def versions(self, output: str) -> list[TableVersion]:
        """The current version of ``output`` and the versions kept of it, newest first."""

    @abstractmethod
    def rollback(self, output: str, to_run_id: str, marker: CommitMarker) -> CommitMarker:
        """Make the kept version of ``output`` holding ``to_run_id``'s data current again, in one
        transaction with ``marker``; the current data is kept as a version in its place.
        Raises ``NotFound`` (changing nothing) when no such version is kept."""

    # -- leftovers of dead runs ---------------------------------------------------------------

    @abstractmethod
    def staging_leftovers(self) -> list[Leftover]:
        """Every staging object in the warehouse, with the tag of the run that made it."""

    @abstractmethod
    def drop_leftover(self, leftover: Leftover) -> None:
        """Drop one staging object (its run is dead)."""

    # -- files and reads ----------------------------------------------------------------------

    @abstractmethod
    def export(
        self, table: str, path: Path, file_format: str, options: dict[str, Any], *,
        order_by: list[str] | None = None,
    ) -> int:
        """Write ``table`` to exactly ``path`` (the engine writes beside the real name and renames);
        rows sorted by ``order_by`` (every column when None, the table's order when empty), so the
        same data gives the same file. Return the number of rows."""

    @abstractmethod
    def query(self, sql: str, *, limit: int = 1000) -> QueryResult:
        """Run a read-only query."""

    def load_rows(self, name: str, sql: str) -> None:
        """Make the rows of ``sql`` (a DuckDB-dialect SELECT) readable as the table ``name``: a SQL unit
        test's input rows, on a scratch backend (``run.backend_factory.open_scratch_backend``)."""
        raise NotImplementedError(f"the {self.name} backend cannot load a unit test's rows")

    @abstractmethod
    def table_exists(self, name: str) -> bool:
        """Whether a published table or view exists."""

    # -- a development environment's reads from prod (docs/environments.md) ------------------

    def prod_warehouse_id(self) -> str | None:
        """The id of prod's warehouse when this backend is a development environment's and reads prod's
        (attached read-only); None otherwise."""
        return None

    def prod_table_exists(self, name: str) -> bool:
        """Whether prod's warehouse has the table ``name`` (False when prod is not attached)."""
        return False

    def link_from_prod(self, output: str, prod_run_id: str) -> None:
        """Make ``output`` read prod's table, read-only and without a copy, in place of whatever the
        environment held: what it built of it (and its commit markers) goes, in one transaction."""
        raise NotImplementedError(f"the {self.name} backend has no environments")

    def prod_links(self) -> list[str]:
        """The outputs this environment reads from prod."""
        return []

    def detach_prod(self) -> None:
        """Let go of prod's warehouse (when nothing more of this run reads it), so a prod writer need not wait."""
        return None  # nothing attached: a backend without environments

    # -- another warehouse attached beside this one (an environment's: docs/environments.md) ----

    @property
    def database(self) -> str:
        """The name this warehouse has as a database of its own connection (what ``markers_in`` takes for it)."""
        raise NotImplementedError(f"the {self.name} backend has no environments")

    def markers_in(self, database: str) -> list[CommitMarker]:
        """Every commit marker of the warehouse attached as ``database``, in commit order."""
        raise NotImplementedError(f"the {self.name} backend has no environments")

    def relation_in(self, database: str, name: str) -> tuple[str | None, str | None]:
        """Whether ``name`` is a TABLE or a VIEW (None: neither) in the warehouse attached as ``database``,
        and a view's query."""
        raise NotImplementedError(f"the {self.name} backend has no environments")

    def warehouse_id_in(self, database: str) -> str:
        """The id of the warehouse attached as ``database``."""
        raise NotImplementedError(f"the {self.name} backend has no environments")

    @abstractmethod
    def interrupt(self) -> None:
        """Stop every query running now (used to cancel a run)."""

    @abstractmethod
    def close(self) -> None:
        """Release the warehouse."""

    def seal_on_close(self) -> None:
        """Leave the warehouse sealed when it closes (a run that succeeded asks): a later run that finds
        every step unchanged then needs not open it (``backends/duckdb/seal.py``). Engines without a
        file to seal ignore it."""
        return None

    def query_progress(self, thread_id: int) -> float | None:
        """How far (percent) the query the thread ``thread_id`` is running has got; None when unknown.

        Called from a monitoring thread while the query runs. Backends without an estimate keep this default.
        """
        return None
