"""`flowdeck new pipeline`: the assistant that asks for a source, a schedule, checks and a destination.

Every answer can be given as a flag, so the command is scriptable; on a terminal (or with
--interactive, from stdin) the missing ones are asked, and asked again when wrong. It validates
the files it would write with the project's own validation, shows them once they are valid, and
writes them only once confirmed (or with --yes).
The questions, the files and the validation are engine/assistant.py's; only the asking is here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import err, out, plain

if TYPE_CHECKING:
    from flowdeck.console.cli.prompts import Asker
    from flowdeck.engine.operations.assistant import AnswerError, PipelineAnswers
    from flowdeck.engine.project.project import Project

new_app = typer.Typer(
    help="Create a pipeline with an assistant that asks what it needs (`flowdeck new pipeline`).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(new_app, name="new")

# the flag that gives each answer, for "missing answer" and "not usable" messages
FLAGS = {
    "name": "NAME (the argument)", "source": "--source", "connection": "--connection", "format": "--format", "source_table": "--source-table",
    "when": "--cron, --interval, --watch or --no-schedule", "cron": "--cron", "timezone": "--timezone",
    "interval": "--interval", "watch": "--watch", "settle": "--settle", "not_null": "--not-null",
    "unique": "--unique", "min_rows": "--min-rows", "table": "--table", "export": "--export",
}

Text = Optional[str]


@new_app.command("pipeline")
def new_pipeline(
    ctx: typer.Context,
    name: Annotated[Text, typer.Argument(help="The pipeline's name (a folder under pipelines/).", show_default=False)] = None,
    source: Annotated[Text, typer.Option("--source", help="Files to read: a path or glob relative to the project, "
                                         "e.g. data/orders/*.csv.", show_default=False)] = None,
    file_format: Annotated[Text, typer.Option("--format", help="csv, parquet or json (default: from the extension).",
                                              show_default=False)] = None,
    connection: Annotated[Text, typer.Option("--connection", help="Read from this database connection (flowdeck.yaml "
                                             "`connections:`) instead of files.", show_default=False)] = None,
    source_table: Annotated[Text, typer.Option("--source-table", help="With --connection: the table to read.",
                                               show_default=False)] = None,
    query: Annotated[Text, typer.Option("--query", help="With --connection: a SELECT run by the database.",
                                        show_default=False)] = None,
    cron: Annotated[Text, typer.Option("--cron", help="Run on this cron schedule, e.g. '0 6 * * *'.",
                                       show_default=False)] = None,
    timezone: Annotated[Text, typer.Option("--timezone", help="Time zone of --cron (default UTC).",
                                           show_default=False)] = None,
    interval: Annotated[Text, typer.Option("--interval", help="Run every this long, e.g. 15m.", show_default=False)] = None,
    watch: Annotated[Text, typer.Option("--watch", help="Run when files land in this folder (a file trigger).",
                                        show_default=False)] = None,
    pattern: Annotated[Optional[list[str]], typer.Option("--pattern", help="With --watch: file names that count "
                                                         "(repeatable; default *).", show_default=False)] = None,
    settle: Annotated[Text, typer.Option("--settle", help="With --watch: how long a file must stay unchanged "
                                         "(default 5s).", show_default=False)] = None,
    archive: Annotated[Text, typer.Option("--archive", help="With --watch: move processed files to this folder.",
                                          show_default=False)] = None,
    no_schedule: Annotated[bool, typer.Option("--no-schedule", help="No schedule or trigger: run it by hand.")] = False,
    not_null: Annotated[Optional[list[str]], typer.Option("--not-null", help="Columns that must never be empty "
                                                          "(repeatable or comma-separated).", show_default=False)] = None,
    unique: Annotated[Optional[list[str]], typer.Option("--unique", help="Columns no two rows share.",
                                                        show_default=False)] = None,
    min_rows: Annotated[Optional[int], typer.Option("--min-rows", min=0, help="Fewest rows a run may publish.",
                                                    show_default=False)] = None,
    no_checks: Annotated[bool, typer.Option("--no-checks", help="Do not ask for checks.")] = False,
    table: Annotated[Text, typer.Option("--table", help="The table it publishes (default: the pipeline's name).",
                                        show_default=False)] = None,
    export: Annotated[Text, typer.Option("--export", help="Also write the table to this .parquet or .csv file.",
                                         show_default=False)] = None,
    no_export: Annotated[bool, typer.Option("--no-export", help="Do not ask for an export file.")] = False,
    description: Annotated[Text, typer.Option("--description", help="One line saying what it is for.",
                                              show_default=False)] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write without asking for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show and validate the files; write nothing.")] = False,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Ask for missing answers even without a "
                                              "terminal, reading them line by line from stdin.")] = False,
) -> None:
    """Create a pipeline: asks for a source, a schedule or trigger, checks and a destination; shows the files;
    validates them; writes them once you confirm.

    Without a terminal, give every answer as a flag (the error names the one missing) and `--yes`.

    Example: `flowdeck new pipeline orders --source 'data/orders/*.csv' --cron '0 6 * * *' --unique order_id --yes`
    """
    from flowdeck.console.cli.prompts import Asker
    from flowdeck.engine.operations.assistant import AnswerError, PipelineAnswers, draft_problems, render, split_list

    ws = workspace(ctx)
    project = ws.project
    ws.require("edit", "pipelines/")  # before any question: a viewer is told at once, not after answering
    asker = Asker(interactive=interactive)
    answers = PipelineAnswers(description=description or "")
    try:
        answers.name = _ask_name(asker, project, name)
        _ask_source(asker, project, answers, source=source, file_format=file_format, connection=connection,
                    source_table=source_table, query=query)
        _ask_when(asker, answers, cron=cron, timezone=timezone, interval=interval, watch=watch, patterns=pattern,
                  settle=settle, archive=archive, no_schedule=no_schedule)
        _ask_checks(asker, project, answers, not_null=split_list(not_null), unique=split_list(unique),
                    min_rows=min_rows, no_checks=no_checks)
        _ask_destination(asker, project, answers, table=table, export=export, no_export=no_export)
        draft = render(answers)
    except AnswerError as error:
        raise _with_flag(error) from None
    problems = draft_problems(project, answers, draft)  # before the files are shown: the error is the news
    if problems:
        first, *rest = problems
        if isinstance(first, AnswerError):
            raise _with_flag(first)
        from flowdeck.engine.errors import ConfigError

        raise ConfigError(f"not written: the new pipeline would not be valid: {first.what}", location=first.location,
                          excerpt=first.excerpt, hint=first.hint, also=rest)
    for relative, text in draft.files.items():
        _show(relative, text)
    err().print(f"[green]✓[/] valid: {plain(answers.name)} passes `flowdeck validate`")
    if dry_run:
        err().print("dry run: nothing written")
        return
    if not yes and not asker.confirm(f"Write these {len(draft.files)} files?", flag="--yes", default=True):
        err().print("nothing written")
        raise typer.Exit(1)
    written = ws.create_pipeline(answers)
    for path in written:
        out().print(f"wrote {plain(path.relative_to(project.root))}")
    out().print(f"next: flowdeck run {answers.name}" + (
        "   (then `flowdeck daemon` runs it on its own)" if answers.when in ("cron", "interval", "files") else ""))


def _with_flag(error: AnswerError) -> AnswerError:
    """An answer error whose hint names the flag that gives that answer."""
    from flowdeck.engine.operations.assistant import AnswerError

    flag = FLAGS.get(error.field, f"--{error.field.replace('_', '-')}")
    return AnswerError(error.field, error.what.split(": ", 1)[-1], hint=f"change {flag}" + (
        f"; {error.hint}" if error.hint and "nothing is written" not in error.hint else ""))


def _ask_name(asker: Asker, project: Project, given: str | None) -> str:
    from flowdeck.engine.operations.assistant import AnswerError, check_new_pipeline_name

    if given is not None:
        problem = check_new_pipeline_name(project, given)
        if problem:
            raise AnswerError("name", problem)
        return given
    return asker.text("Pipeline name", flag=FLAGS["name"], check=lambda value: check_new_pipeline_name(project, value))


def _ask_source(asker: Asker, project: Project, answers: PipelineAnswers, *, source: str | None,
                file_format: str | None, connection: str | None, source_table: str | None, query: str | None) -> None:
    from flowdeck.engine.operations.assistant import (
        FILE_FORMATS,
        AnswerError,
        check_connection,
        check_format,
        check_source_path,
        source_columns,
    )

    connections = sorted(getattr(project.config, "connections", None) or {})
    if connection is None and source is None and connections and asker.interactive:
        choice = asker.choice("Where does the data come from?",
                              [("files", "files under the project (CSV, Parquet, JSON)"),
                               *[(name, "a database connection of flowdeck.yaml") for name in connections]],
                              flag="--source or --connection", default="files")
        connection = None if choice == "files" else choice
    if connection is not None:
        problem = check_connection(project, connection)
        if problem:
            raise AnswerError("connection", problem)
        answers.connection = connection
        if source_table is None and query is None:
            source_table = asker.text(f"Table of {connection} to read (schema.table)", flag=FLAGS["source_table"])
        answers.source_table, answers.query = source_table, query
        return
    answers.source = source if source is not None else asker.text(
        "Source files (a path or glob, relative to the project, e.g. data/orders/*.csv)", flag=FLAGS["source"],
        check=check_source_path)
    suffix = Path(answers.source).suffix.lower().lstrip(".")
    if file_format is not None:
        answers.format = file_format
    elif suffix not in FILE_FORMATS:
        answers.format = asker.text(f"Format ({', '.join(FILE_FORMATS)})", flag=FLAGS["format"], default="csv",
                                    check=check_format)
    columns = source_columns(project, answers)
    asker.say(f"  columns: {', '.join(columns)}" if columns is not None
              else "  (no file matches yet: columns unknown, checks are not matched against them)")


def _ask_when(asker: Asker, answers: PipelineAnswers, *, cron: str | None, timezone: str | None, interval: str | None,
              watch: str | None, patterns: list[str] | None, settle: str | None, archive: str | None,
              no_schedule: bool) -> None:
    from flowdeck.engine.operations.assistant import AnswerError, check_cron, check_interval, check_settle, check_timezone

    given = [kind for kind, value in (("cron", cron), ("interval", interval), ("files", watch), ("none", no_schedule))
             if value]
    if len(given) > 1:
        raise AnswerError("when", f"give one of --cron, --interval, --watch, --no-schedule (got {', '.join(given)})")
    if given:
        answers.when = given[0]
    elif asker.interactive:
        answers.when = asker.choice("When should it run?", [
            ("cron", "on a schedule, e.g. every day at 06:00"),
            ("interval", "every so often, e.g. every 15 minutes"),
            ("files", "when files land in a folder"),
            ("none", "only when started by hand (`flowdeck run`)"),
        ], flag=FLAGS["when"], default="cron")
    else:
        raise asker.missing("when should it run", FLAGS["when"])
    if answers.when == "cron":
        answers.cron = cron or asker.text("Cron expression (minute hour day month weekday)", flag=FLAGS["cron"],
                                          default="0 6 * * *", check=check_cron)
        answers.timezone = timezone or asker.text("Time zone", flag=FLAGS["timezone"], default="UTC",
                                                  check=check_timezone)
    elif answers.when == "interval":
        answers.interval = interval or asker.text("Interval (e.g. 15m, 1h)", flag=FLAGS["interval"],
                                                  check=check_interval)
    elif answers.when == "files":
        default_folder = str(Path(answers.source).parent) if answers.source else None
        answers.watch = watch or asker.text("Folder to watch", flag=FLAGS["watch"], default=default_folder)
        default_pattern = Path(answers.source).name if answers.source and "*" in Path(answers.source).name else "*"
        answers.patterns = patterns or [asker.text("File names that count (a pattern)", flag="--pattern",
                                                   default=default_pattern)]
        answers.settle = settle or asker.text("Settle time (how long a file must stay unchanged)",
                                              flag=FLAGS["settle"], default="5s", check=check_settle)
        answers.archive = archive if archive is not None else (asker.text(
            "Move processed files to (a folder; empty: leave them)", flag="--archive", optional=True) or None)


def _ask_checks(asker: Asker, project: Project, answers: PipelineAnswers, *, not_null: list[str], unique: list[str],
                min_rows: int | None, no_checks: bool) -> None:
    from flowdeck.engine.operations.assistant import check_columns, check_min_rows, source_columns, split_list, unknown_check_columns

    answers.not_null, answers.unique, answers.min_rows = not_null, unique, min_rows
    if no_checks or not_null or unique or min_rows is not None or not asker.interactive:
        return
    columns = source_columns(project, answers)

    def known_columns(field_name: str) -> Callable[[str], str | None]:
        def check(value: str) -> str | None:
            trial = replace(answers, **{field_name: split_list(value)})
            return check_columns(value) or unknown_check_columns(trial, columns).get(field_name)
        return check

    answers.not_null = split_list(asker.text("Columns that must never be empty (comma-separated; empty: none)",
                                             flag=FLAGS["not_null"], optional=True, check=known_columns("not_null")))
    answers.unique = split_list(asker.text("Columns that identify a row, unique (empty: none)", flag=FLAGS["unique"],
                                           optional=True, check=known_columns("unique")))
    fewest = asker.text("Fewest rows a run may publish (empty: no check)", flag=FLAGS["min_rows"], optional=True,
                        check=check_min_rows)
    answers.min_rows = int(fewest) if fewest else None


def _ask_destination(asker: Asker, project: Project, answers: PipelineAnswers, *, table: str | None,
                     export: str | None, no_export: bool) -> None:
    from flowdeck.engine.operations.assistant import AnswerError, check_destination, check_export

    if table is not None:
        problem = check_destination(project, table)
        if problem:
            raise AnswerError("table", problem)
        answers.table = table
    else:
        answers.table = asker.text("Destination table", flag=FLAGS["table"], default=answers.name,
                                   check=lambda value: check_destination(project, value))
    if export is not None or no_export:
        answers.export = export or None
    else:
        answers.export = asker.text("Also export it to a file (.parquet or .csv; empty: no)", flag=FLAGS["export"],
                                    optional=True, check=check_export) or None


def _show(relative: str, text: str) -> None:
    from rich.syntax import Syntax

    console = out()
    if console.is_terminal:
        console.rule(plain(relative), align="left")
        # wrapped, not cropped: a comment past the terminal's width is still read to its end
        console.print(Syntax(text, "yaml" if relative.endswith(".yaml") else "sql", background_color="default",
                             word_wrap=True))
    else:
        console.print(f"--- {relative}", markup=False, highlight=False)
        console.print(text, markup=False, highlight=False, end="")
