"""The new-pipeline assistant: answers (source, schedule or trigger, checks, destination) → pipeline files.

The CLI (`flowdeck new pipeline`) and the console's form ask the same questions and hand
the answers here. This module checks each answer on its own (so a prompt can ask again),
writes the pipeline.yaml and SQL text, and validates the result with the project's real
validation (config models, SQL analysis, the DAG) on a scratch copy, before anything is
written into the project. ``create_pipeline`` writes it, through ``Workspace.write_project_file``
(role check, audit entry, atomic replace) for each file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from flowdeck.engine.errors import ConfigError, FlowdeckError, Location
from flowdeck.engine.project.config.fields import IDENTIFIER, parse_duration
from flowdeck.engine.project.config.pipeline import Schedule

if TYPE_CHECKING:
    from flowdeck.engine.plan.planner import Plan
    from flowdeck.engine.project.project import Project

FILE_FORMATS = ("csv", "parquet", "json")
EXPORT_FORMATS = ("parquet", "csv")
WHEN_CHOICES = ("cron", "interval", "files", "none")
_IDENTIFIER = re.compile(IDENTIFIER)


class AnswerError(ConfigError):
    """One answer to the assistant is wrong or missing; ``field`` names it (a flag, a form input)."""

    def __init__(self, field_name: str, problem: str, *, hint: str | None = None) -> None:
        self.field = field_name
        super().__init__(f"the answer for `{field_name}` is not usable: {problem}",
                         hint=hint or "fix that answer; nothing is written until every answer is valid")


@dataclass
class PipelineAnswers:
    """Everything the assistant asks. Only ``name``, a source and ``when`` have no default."""

    name: str = ""
    description: str = ""
    # the source: files (a path or glob), or a database connection's table or query
    source: str = ""
    format: str | None = None  # csv | parquet | json; from the extension when None
    connection: str | None = None
    source_table: str | None = None
    query: str | None = None
    # when it runs
    when: str = ""  # cron | interval | files | none
    cron: str | None = None
    timezone: str = "UTC"
    interval: str | None = None
    watch: str | None = None  # the folder a file trigger watches
    patterns: list[str] = field(default_factory=lambda: ["*"])
    settle: str = "5s"
    archive: str | None = None
    # checks on the destination table
    not_null: list[str] = field(default_factory=list)
    unique: list[str] = field(default_factory=list)
    min_rows: int | None = None
    # the destination
    table: str = ""  # the pipeline's name when empty
    export: str | None = None  # a .parquet or .csv file path

    @property
    def destination(self) -> str:
        """The table the pipeline publishes."""
        return self.table or self.name

    @property
    def raw_table(self) -> str:
        """The table the extract step writes."""
        return f"raw_{self.destination}"


@dataclass(frozen=True)
class DraftPipeline:
    """The files the assistant would write, relative to the project, with their text."""

    name: str
    files: dict[str, str]

    @property
    def pipeline_file(self) -> str:
        """The pipeline.yaml's path, relative to the project."""
        return next(path for path in self.files if path.endswith("/pipeline.yaml"))


# -- one answer at a time: None when fine, else what is wrong in plain words -----------------------


def check_name(value: str) -> str | None:
    """A pipeline or table name: letters, digits and _, not starting with a digit."""
    if not _IDENTIFIER.match(value):
        return "use letters, digits and _, not starting with a digit (e.g. daily_orders)"
    return None


def check_new_pipeline_name(project: Project, value: str) -> str | None:
    """A valid name no pipeline of the project has yet."""
    problem = check_name(value)
    if problem is None and (project.pipelines_dir / value).exists():
        return f"the project already has a pipeline named {value} ({project.pipelines_dir / value})"
    return problem


def check_destination(project: Project, value: str) -> str | None:
    """A table name no other pipeline of the project publishes (nor its raw_ table)."""
    from flowdeck.engine.plan.planner import tables_of_other_pipelines

    problem = check_name(value)
    if problem is None:
        taken = tables_of_other_pipelines(project, "")
        clash = next((table for table in (value, f"raw_{value}") if table.lower() in taken), None)
        if clash:
            return f"another pipeline already publishes the table {clash}; choose another name"
    return problem


def check_connection(project: Project, value: str) -> str | None:
    """A connection declared under `connections:` in flowdeck.yaml."""
    declared = sorted(getattr(project.config, "connections", None) or {})
    if value in declared:
        return None
    return f"no connection named {value} in flowdeck.yaml (" + (
        f"declared: {', '.join(declared)})" if declared else "none is declared: add one under `connections:`)")


def check_source_path(value: str) -> str | None:
    """A file or glob relative to the project."""
    if not value.strip():
        return "give a file or a glob such as data/orders/*.csv"
    if ".." in Path(value).parts:
        return "give a path inside the project folder (no ..)"
    return None


def check_format(value: str) -> str | None:
    """csv, parquet or json."""
    return None if value in FILE_FORMATS else f"one of {', '.join(FILE_FORMATS)}"


def check_cron(value: str) -> str | None:
    """A five-field cron expression the scheduler accepts."""
    return _schedule_problem({"cron": value})


def check_timezone(value: str) -> str | None:
    """An IANA time zone name."""
    return _schedule_problem({"cron": "0 0 * * *", "timezone": value})


def check_interval(value: str) -> str | None:
    """A duration of whole seconds: 15m, 1h, 1d."""
    return _schedule_problem({"interval": value})


def check_settle(value: str) -> str | None:
    """A duration such as 5s."""
    try:
        parse_duration(value)
    except ValueError as error:
        return str(error)
    return None


def check_columns(value: str) -> str | None:
    """Column names separated by commas (or nothing)."""
    bad = [name for name in split_list(value) if not re.fullmatch(r"[^\s,\"']+", name)]
    return f"not a column name: {bad[0]!r} (separate names with commas)" if bad else None


def check_min_rows(value: str) -> str | None:
    """A whole number, 0 or more (or nothing)."""
    return None if not value or (value.isdigit()) else "a whole number such as 1"


def check_export(value: str) -> str | None:
    """A .parquet or .csv file path inside the project."""
    if not value:
        return None
    if Path(value).suffix.lower().lstrip(".") not in EXPORT_FORMATS:
        return "a file ending in .parquet or .csv, e.g. exports/orders.parquet"
    if ".." in Path(value).parts or Path(value).is_absolute():
        return "a path inside the project folder, e.g. exports/orders.parquet"
    return None


def check_when(value: str) -> str | None:
    """How the pipeline starts."""
    return None if value in WHEN_CHOICES else f"one of {', '.join(WHEN_CHOICES)}"


def split_list(value: str | list[str] | None) -> list[str]:
    """``"a, b"`` (or repeated flags) → ``["a", "b"]``."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def _schedule_problem(values: dict[str, str]) -> str | None:
    try:
        Schedule.model_validate(values)
    except ValidationError as error:
        return str(error.errors()[0]["msg"]).removeprefix("Value error, ")
    return None


CHECKS: dict[str, Callable[[str], str | None]] = {
    "name": check_name, "source": check_source_path, "format": check_format, "cron": check_cron,
    "timezone": check_timezone, "interval": check_interval, "settle": check_settle, "not_null": check_columns,
    "unique": check_columns, "min_rows": check_min_rows, "table": check_name, "export": check_export,
    "when": check_when,
}


def answer_problems(answers: PipelineAnswers) -> dict[str, str]:
    """Every answer that is wrong or missing, by field name (what a form marks inline)."""
    problems: dict[str, str] = {}

    def check(field_name: str, value: str | None, required: bool = True) -> None:
        if not value:
            if required:
                problems[field_name] = "an answer is needed"
            return
        problem = CHECKS[field_name](value)
        if problem:
            problems[field_name] = problem

    check("name", answers.name)
    if answers.connection:
        if not (answers.source_table or answers.query):
            problems["source_table"] = "give the table (or a query) to read from the connection"
    else:
        check("source", answers.source)
        check("format", answers.format, required=False)
    check("when", answers.when)
    if answers.when == "cron":
        check("cron", answers.cron)
        check("timezone", answers.timezone)
    elif answers.when == "interval":
        check("interval", answers.interval)
    elif answers.when == "files":
        if not answers.watch:
            problems["watch"] = "give the folder to watch, e.g. landing/orders"
        check("settle", answers.settle)
    check("not_null", ",".join(answers.not_null), required=False)
    check("unique", ",".join(answers.unique), required=False)
    check("table", answers.table, required=False)
    check("export", answers.export, required=False)
    return problems


# -- writing the files -----------------------------------------------------------------------------


COMMENT_COLUMN = 40


def _line(code: str, comment: str = "") -> str:
    """A YAML line with its comment aligned, so the file reads as a table of settings and explanations."""
    return f"{code.ljust(COMMENT_COLUMN - 1)} # {comment}" if comment else code


def render(answers: PipelineAnswers) -> DraftPipeline:
    """The pipeline.yaml and SQL file the answers describe, commented for the person who will edit them."""
    problems = answer_problems(answers)
    if problems:
        raise AnswerError(*next(iter(problems.items())))
    folder = f"pipelines/{answers.name}"
    destination, raw = answers.destination, answers.raw_table
    lines = [
        f"# {answers.name}: written by `flowdeck new pipeline`. Edit it freely: `flowdeck validate` checks it,",
        f"# `flowdeck run {answers.name}` runs it. Every key: docs/configuration.md (or `flowdeck schema pipeline`).",
        "description: >",
        f"  {answers.description.strip() or _describe(answers)}",
        "",
    ]
    lines += _when_lines(answers)
    lines += ["steps:", f"  - name: {raw}", _line("    kind: extract", "read the source into a table named after the step"),
              "    source:"]
    if answers.connection:
        lines.append(_line(f"      connection: {answers.connection}", "declared under `connections:` in flowdeck.yaml"))
        if answers.query:
            lines.append(_line(f"      query: {_quoted(answers.query)}", "run by the database, in its own SQL"))
        else:
            lines.append(_line(f"      table: {_quoted(answers.source_table or '')}", "a table or view of the database"))
    else:
        lines.append(_line(f"      path: {_quoted(answers.source)}", "relative to the project; a glob reads every match"))
        if answers.format:
            lines.append(_line(f"      format: {answers.format}", "csv | parquet | json (else from the extension)"))
    lines += ["", f"  - name: {destination}", _line("    kind: transform", f"one SELECT, in {destination}.sql"),
              f"    sql: {destination}.sql"]
    checks = _check_lines(answers)
    if checks:
        lines.append(_line("    checks:", "run before new rows are published; a failure keeps the old"))
        lines += checks
    if answers.export:
        export_format = Path(answers.export).suffix.lower().lstrip(".")
        lines += ["", f"  - name: export_{destination}", _line("    kind: load", "write the table out to a file"),
                  f"    table: {destination}", "    to:",
                  _line(f"      path: {_quoted(answers.export)}", f"{export_format}; written beside, then renamed into place")]
    sql = (f"-- {destination}: the rows of {raw}. Shape them here (choose and rename columns, cast types,\n"
           f"-- filter rows); the checks in pipeline.yaml run on the result.\n"
           f"SELECT *\nFROM {raw}\n")
    return DraftPipeline(answers.name, {f"{folder}/pipeline.yaml": "\n".join(lines) + "\n", f"{folder}/{destination}.sql": sql})


def _describe(answers: PipelineAnswers) -> str:
    source = (f"{answers.connection}:{answers.source_table or 'a query'}" if answers.connection else answers.source)
    return f"{source} into the table {answers.destination}" + (f", exported to {answers.export}" if answers.export else "")


def _when_lines(answers: PipelineAnswers) -> list[str]:
    if answers.when == "cron":
        return [_line("schedule:", "run by `flowdeck daemon`"),
                _line(f"  cron: {_quoted(answers.cron or '')}", "minute hour day-of-month month day-of-week"),
                _line(f"  timezone: {answers.timezone}", "the clock the cron expression reads"), ""]
    if answers.when == "interval":
        return [_line("schedule:", "run by `flowdeck daemon`"),
                _line(f"  interval: {answers.interval}", "e.g. 15m, 1h, 1d"), ""]
    if answers.when == "files":
        lines = [_line("triggers:", "with `flowdeck daemon`, a new file here starts a run"),
                 _line(f"  - folder: {_quoted(answers.watch or '')}", "relative to the project"),
                 _line(f"    patterns: {json.dumps(answers.patterns or ['*'])}", "file names that count"),
                 _line(f"    settle: {answers.settle}", "a file is taken once unchanged for this long")]
        if answers.archive:
            lines.append(_line(f"    archive: {_quoted(answers.archive)}", "processed files are moved here"))
        return [*lines, ""]
    return ["# no schedule: run it with `flowdeck run` (add `schedule:` or `triggers:` later)", ""]


def _check_lines(answers: PipelineAnswers) -> list[str]:
    lines = []
    if answers.not_null:
        lines.append(_line(f"      - not_null: [{', '.join(answers.not_null)}]", "these columns are never empty"))
    if answers.unique:
        lines.append(_line(f"      - unique: [{', '.join(answers.unique)}]", "no two rows share these values"))
    if answers.min_rows is not None:
        lines.append(_line(f"      - row_count: {{min: {answers.min_rows}}}", "at least this many rows"))
    return lines


def _quoted(value: str) -> str:
    """A YAML scalar: plain when that reads back as the same string, else double-quoted (JSON is valid YAML)."""
    import yaml

    if re.fullmatch(r"[A-Za-z0-9_./-]+", value):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False)


# -- validating before anything is written ---------------------------------------------------------------


def validate_draft(project: Project, draft: DraftPipeline) -> list[FlowdeckError]:
    """Every problem the project's validation finds in ``draft``, located in the files it would become.

    The draft is planned on a scratch copy (``trial.plan_trial``): the project's own flowdeck.yaml, its
    other pipelines (linked, so tables they publish can be read) and the draft's files. Nothing is
    written into the project.
    """
    from flowdeck.engine.operations.trial import plan_trial

    if (project.pipelines_dir / draft.name).exists():
        return [FlowdeckError(f"the project already has a pipeline named `{draft.name}`",
                              location=Location(project.pipelines_dir / draft.name),
                              hint="choose another name, or edit that pipeline")]
    try:
        plan_trial(project, draft.name, {Path(relative).name: text for relative, text in draft.files.items()},
                   also_check=_tables_published_elsewhere)
    except FlowdeckError as error:
        return [type(problem)(problem.what, location=problem.location, hint=problem.hint, excerpt=problem.excerpt)
                for problem in (error, *error.also)]
    return []


def _tables_published_elsewhere(project: Project, plan: Plan) -> Iterator[FlowdeckError]:
    """Tables the draft would publish that another pipeline already publishes (two writers of one table)."""
    from flowdeck.engine.plan.planner import tables_of_other_pipelines
    from flowdeck.engine.project.project import config_error_at

    taken = tables_of_other_pipelines(project, plan.name)
    for name in plan.order:
        step = plan.steps[name]
        if step.output is not None and step.output.lower() in taken:
            yield config_error_at(plan.source, ("steps", step.index, "name"),
                                  f"another pipeline of the project already publishes the table `{step.output}`",
                                  hint="choose another destination table name")


def source_columns(project: Project, answers: PipelineAnswers) -> list[str] | None:
    """The columns of a file source as DuckDB reads them, or None when it cannot tell (no file yet, a database)."""
    if answers.connection or not answers.source:
        return None
    import duckdb

    path = project.resolve_path(answers.source)
    suffix = answers.format or Path(answers.source).suffix.lower().lstrip(".")
    reader = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}.get(suffix, "read_csv")
    connection = duckdb.connect()
    try:
        rows = connection.execute(f"DESCRIBE SELECT * FROM {reader}(?)", [str(path)]).fetchall()
    except duckdb.Error:
        return None
    finally:
        connection.close()
    return [str(row[0]) for row in rows]


def unknown_check_columns(answers: PipelineAnswers, columns: list[str] | None) -> dict[str, str]:
    """Check columns the source does not have, by answer (``not_null``, ``unique``); nothing when columns are unknown."""
    if columns is None:
        return {}
    known = {column.lower() for column in columns}
    problems = {}
    for field_name in ("not_null", "unique"):
        missing = [name for name in getattr(answers, field_name) if name.lower() not in known]
        if missing:
            problems[field_name] = f"no column {missing[0]!r} in {answers.source} (its columns: {', '.join(columns)})"
    return problems


def draft_problems(project: Project, answers: PipelineAnswers, draft: DraftPipeline) -> list[FlowdeckError]:
    """Everything wrong with ``draft``: check columns the source lacks, then the project's own validation."""
    unknown = unknown_check_columns(answers, source_columns(project, answers))
    if unknown:
        return [AnswerError(field_name, problem, hint="name columns the source has (the new table starts as "
                            "SELECT * of it)") for field_name, problem in unknown.items()]
    return validate_draft(project, draft)


def draft_pipeline(project: Project, answers: PipelineAnswers) -> DraftPipeline:
    """Render the answers and validate the result; raise one error listing every problem."""
    draft = render(answers)
    problems = draft_problems(project, answers, draft)
    if problems:
        first, *rest = problems
        if isinstance(first, AnswerError):
            raise first
        raise ConfigError(f"the new pipeline would not be valid: {first.what}", location=first.location,
                          excerpt=first.excerpt, hint=first.hint or "change the answer it comes from", also=rest)
    return draft


def create_pipeline(project: Project, answers: PipelineAnswers, write: Callable[[str, str], Path]) -> list[Path]:
    """Write the pipeline the answers describe, once the project's validation accepts it, each file
    through ``write`` (the project-relative path and the text); nothing is written when any is invalid."""
    draft = draft_pipeline(project, answers)
    written = [write(relative, text) for relative, text in draft.files.items()]
    project.forget()
    return written
