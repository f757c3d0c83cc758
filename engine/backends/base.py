"""The backend interface: how a step stages, checks, publishes and exports its data.

The run executor only talks to a ``Backend``; which database does the work (DuckDB, Spark)
is the backend's business. Every method is safe to call from several threads at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
    """What publishing a step writes beside its output, in the same transaction."""

    run_id: str
    step: str
    output: str
    rows: int | None
    checksum: str


@dataclass(frozen=True)
class Staged:
    """A step's output built under a private name, not yet visible under its real one."""

    name: str
    rows: int | None  # None for a view: counting it would run its query
    checksum: str
    is_view: bool = False
    sql: str | None = None


@dataclass(frozen=True)
class QueryResult:
    """Columns and rows of a read-only query, capped at the requested limit."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False

    def as_dicts(self) -> list[dict[str, Any]]:
        """Rows as column → value mappings."""
        return [dict(zip(self.columns, row)) for row in self.rows]


@dataclass(frozen=True)
class Failing:
    """How many rows a check query returned, and the first few of them."""

    count: int
    sample: list[dict[str, Any]]


class Backend(ABC):
    """Runs the SQL of steps. Implementations: ``DuckDBBackend`` (default)."""

    name: str = "backend"

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

    @abstractmethod
    def failing_rows(self, sql: str, *, sample: int = 5) -> Failing:
        """Count the rows ``sql`` returns and keep a few (checks return failing rows)."""

    @abstractmethod
    def publish(self, staged: Staged, output: str, marker: CommitMarker) -> None:
        """Atomically replace ``output`` by ``staged`` and write ``marker`` in the same transaction."""

    @abstractmethod
    def discard(self, staged: Staged) -> None:
        """Drop a staged output that will not be published."""

    @abstractmethod
    def export(self, table: str, path: Path, file_format: str, options: dict[str, Any]) -> int:
        """Write ``table`` to ``path`` (complete or not at all); return the number of rows."""

    @abstractmethod
    def query(self, sql: str, *, limit: int = 1000) -> QueryResult:
        """Run a read-only query."""

    @abstractmethod
    def table_exists(self, name: str) -> bool:
        """Whether a published table or view exists."""

    @abstractmethod
    def interrupt(self) -> None:
        """Stop every query running now (used to cancel a run)."""

    @abstractmethod
    def close(self) -> None:
        """Release the warehouse."""
