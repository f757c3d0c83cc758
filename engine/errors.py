"""The errors flowdeck shows to people: what went wrong, where, and what to do next.

Every error a user can meet is a ``FlowdeckError``. The CLI prints ``str(error)`` and exits
with ``error.exit_code``; nothing else should reach a terminal as a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_FORBIDDEN = 3
EXIT_BUSY = 4


@dataclass(frozen=True)
class Location:
    """A place in a file: 1-based line and column (0 when unknown), and in a YAML file the key path.

    ``key`` is the path of the setting concerned (``steps[1].checks[0].not_null``, as yq/jq
    spell it, indexes from 0), so a message names the key to change even after the file moved
    on or when the line shown is its parent's.
    """

    path: Path
    line: int = 0
    column: int = 0
    key: str = ""

    def __str__(self) -> str:
        where = str(self.path)
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        return where


class FlowdeckError(Exception):
    """Base of every error meant for a person.

    ``what`` says what happened, ``location`` where, ``hint`` what to do about it.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        what: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        excerpt: str | None = None,
        also: Sequence[FlowdeckError] | None = None,
    ) -> None:
        self.what = what
        self.location = location
        self.hint = hint
        self.excerpt = excerpt
        self.also: list[FlowdeckError] = list(also or ())
        super().__init__(self.render())

    def to_json(self) -> list[dict[str, object]]:
        """This error and those it carries (``also``), each as ``{message, file, line, column, key, hint}``
        (the JSON of `flowdeck validate --json`); unknown parts are null."""
        location = self.location
        this: dict[str, object] = {
            "message": self.what,
            "file": str(location.path) if location else None,
            "line": location.line or None if location else None,
            "column": location.column or None if location else None,
            "key": location.key or None if location else None,
            "hint": self.hint,
        }
        return [this, *(entry for other in self.also for entry in other.to_json())]

    def render(self) -> str:
        """The message as printed: location, what, excerpt of the offending line, hint."""
        head = f"{self.location}: {self.what}" if self.location else self.what
        parts = [head]
        if self.excerpt:
            parts.append(self.excerpt)
        if self.location is not None and self.location.key:
            parts.append(f"key: {self.location.key}")
        if self.hint:
            parts.append(f"hint: {self.hint}")
        for other in self.also:
            parts.append("")
            parts.append(other.render())
        return "\n".join(parts)


class ProjectNotFound(FlowdeckError):
    """No flowdeck.yaml where we looked."""


class ConfigError(FlowdeckError):
    """A YAML file is malformed or does not match its model."""


class SqlError(FlowdeckError):
    """A SQL file does not parse or is not the kind of statement a step needs."""


class PlanError(FlowdeckError):
    """The steps of a pipeline do not form a valid DAG (cycles, unknown tables)."""


class ParamError(FlowdeckError):
    """A run parameter is unknown, missing or of the wrong type."""


class NotFound(FlowdeckError):
    """A named thing (pipeline, run, step, table) does not exist."""


class Forbidden(FlowdeckError):
    """The acting user's role does not allow this action."""

    exit_code = EXIT_FORBIDDEN


class WarehouseBusy(FlowdeckError):
    """The DuckDB warehouse is held by another process for longer than we may wait."""

    exit_code = EXIT_BUSY

    def __init__(self, what: str, *, holder_pid: int | None = None, **kwargs: object) -> None:
        self.holder_pid = holder_pid  # the process DuckDB named as holding the file's lock, when it did
        super().__init__(what, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TranslatedSql:
    """The SQL an engine ran for a step's query when it is a translation (Spark SQL of DuckDB SQL): the text,
    the 0-based index in it the engine's error pointed at, and the names (a column, a function) it quoted."""

    sql: str
    start: int | None = None
    names: tuple[str, ...] = ()


class StepFailed(FlowdeckError):
    """A step failed while running; carries whether retrying may help, and the translated SQL that failed
    (``ran``), which ``engine.sql.origin.located`` maps back to the user's file and line."""

    exit_code = EXIT_RUN_FAILED

    def __init__(self, what: str, *, transient: bool = False, ran: TranslatedSql | None = None,
                 **kwargs: object) -> None:
        self.transient = transient
        self.ran = ran
        super().__init__(what, **kwargs)  # type: ignore[arg-type]


class CheckFailed(StepFailed):
    """A blocking data-quality check found failing rows."""


class UnknownColumn(StepFailed):
    """A step's SQL names a column that the tables it reads do not have (the engine's binder said so).

    The backend knows the column is unknown; the step knows which tables it reads, and names them
    in the hint (``flowdeck query "DESCRIBE orders_clean"``).
    """


class EngineRefusal(StepFailed):
    """An engine refused a query before running it: it would give another result than DuckDB there (the
    Spark lint, docs/spark.md); the message names the construct and the hint what to write instead, ``line``
    and ``column`` (1-based, 0 unknown) where in the query it is."""

    def __init__(self, what: str, *, line: int = 0, column: int = 0, **kwargs: object) -> None:
        self.line = line
        self.column = column
        super().__init__(what, **kwargs)  # type: ignore[arg-type]

    def render(self) -> str:
        """As every error; a query that is no file's (``flowdeck query``) is pointed into by its line."""
        rendered = super().render()
        return f"line {self.line}: {rendered}" if self.location is None and self.line else rendered

    def in_file(self, path: Path, text: str, first_line: int | None) -> EngineRefusal:
        """This refusal pointing into the file the query came from (``text``: the file's content), whose line
        ``first_line`` is the query's first; None: the query's lines are not the file's (a rewritten query),
        so only the file is named."""
        line = self.line + first_line - 1 if first_line is not None and self.line else 0
        column = self.column if line else 0
        return EngineRefusal(self.what, line=line, column=column, hint=self.hint, location=Location(path, line, column),
                             excerpt=excerpt_of(text, line, column) if line else None)


class DamagedFile(FlowdeckError):
    """A file flowdeck keeps (the ledger, the warehouse) is not readable as what it should be; it was left
    as found, and the way back is a backup."""


def restore_hint(runtime_dir: Path) -> str:
    """What to do about a damaged ledger or warehouse: restore the runtime folder from `flowdeck backup`."""
    return (f"restore it from your latest `flowdeck backup`: stop the daemon, move {runtime_dir} aside, copy the "
            "backup's ledger.sqlite and warehouse.duckdb into a new one and run `flowdeck cleanup` "
            "(docs/operations.md, \"Backup and restore\"); flowdeck changed nothing in the damaged file")


def excerpt_of(text: str, line: int, column: int = 0) -> str:
    """Show one line of ``text`` with a caret under ``column`` (both 1-based)."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    source = lines[line - 1]
    gutter = f"{line:>5} | "
    caret = " " * (len(gutter) + max(column - 1, 0)) + "^" if column else ""
    return f"{gutter}{source}" + (f"\n{caret}" if caret else "")
