"""Editing a pipeline's DAG (add, remove or rename a step, set its depends_on) in its pipeline.yaml text.

Every other byte of the file is kept: ruamel.yaml's round-trip loader (it keeps comments and
records the line and column of every key, value and list item) locates the step and the lines
a change touches, and only those lines are replaced in the text. Writing the whole document back
through ruamel's dumper was tried and not kept: it re-indents every sequence of the file to one
style and moves the comment after a flow mapping (``{header: true}   # why``) to another column.

A change is accepted only when the project's own validation (config models, SQL, the DAG:
cycles, unknown steps and tables, duplicate names) plans the result, on a scratch copy; nothing
is written until ``DagSession.save``, which refuses when pipeline.yaml changed on disk since it
was read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from flowdeck.engine.errors import ConfigError, FlowdeckError, Location
from flowdeck.engine.project.config.fields import IDENTIFIER
from flowdeck.engine.project.config.steps import STEP_KINDS
from flowdeck.engine.project.project import PIPELINE_FILE
from flowdeck.engine.project.textfile import read_text
from flowdeck.engine.operations.trial import plan_trial
from flowdeck.engine.plugins.registry import step_kinds

if TYPE_CHECKING:
    from flowdeck.engine.plan.planner import Plan
    from flowdeck.engine.project.project import Project

_IDENTIFIER = re.compile(IDENTIFIER)
_PLAIN_TOKEN = re.compile(r"[^\s,\]\}#]+")

# The kinds the editor writes a new step of: a python step, or a plugin's kind, needs its function or its
# settings, which only the person writing pipeline.yaml knows.
NEW_STEP_KINDS = ("extract", "transform", "check", "load")

# The SQL a new step starts with (the step's `{table}` is what it reads: a transform selects from it,
# a check's custom SQL returns its failing rows, none at first).
SQL_TEMPLATES = {
    "transform": "-- {name}: a new step; replace this query with the step's own.\nSELECT *\nFROM {table}\n",
    "check": "-- {name}: rows this query returns fail the check (none, until it is written).\n"
             "SELECT *\nFROM {table}\nWHERE false\n",
}


@dataclass(frozen=True)
class DagEdit:
    """One change's result: the new pipeline.yaml text, SQL files to create (name → text), what it was."""

    text: str
    files: dict[str, str] = field(default_factory=dict)
    description: str = ""


def _refused(what: str, hint: str | None = None) -> ConfigError:
    return ConfigError(f"not changed: {what}", hint=hint)


# -- locating steps in the text -----------------------------------------------------------------------------


@dataclass
class _Located:
    """The parsed document (ruamel's round trip) and the text's lines."""

    lines: list[str]
    steps: CommentedSeq

    def index_of(self, name: str) -> int:
        for index, step in enumerate(self.steps):
            if isinstance(step, CommentedMap) and step.get("name") == name:
                return index
        names = [str(step.get("name")) for step in self.steps if isinstance(step, CommentedMap)]
        import difflib

        close = difflib.get_close_matches(name, names, n=1)
        raise _refused(f"the pipeline has no step named `{name}`",
                       hint=f"did you mean `{close[0]}`?" if close else f"its steps: {', '.join(names)}")

    def step(self, index: int) -> CommentedMap:
        step = self.steps[index]
        if not isinstance(step, CommentedMap) or step.fa.flow_style():
            raise _refused(f"step {index + 1} is written on one line ({{...}}); the DAG editor changes block steps only",
                           hint="edit pipeline.yaml in the editor (e)")
        return step

    def start_line(self, index: int) -> int:
        """The first line of step ``index`` (its `- ` line), with the comment lines right above it."""
        line = int(self.steps.lc.item(index)[0])
        while line > 0 and not self.lines[line].lstrip().startswith("-"):
            line -= 1  # a `-` alone on the line before the step's first key
        while line > 0 and self.lines[line - 1].strip().startswith("#"):
            line -= 1
        return line

    def end_line(self, index: int) -> int:
        """The line after step ``index``'s lines, its own trailing comments and the blank lines after it:
        where the next step (with the comment lines right above it) begins."""
        return self._limit(index)

    def content_end(self, index: int) -> int:
        """The line after step ``index``'s last content line (no blank or comment line after it)."""
        end = self._limit(index)
        while end > 0 and (not self.lines[end - 1].strip() or self.lines[end - 1].strip().startswith("#")):
            end -= 1
        return end

    def _limit(self, index: int) -> int:
        if index + 1 < len(self.steps):
            return self.start_line(index + 1)
        steps_column = self.dash_column(index)
        for line in range(int(self.steps.lc.item(index)[0]) + 1, len(self.lines)):
            text = self.lines[line]
            if text.strip() and not text.strip().startswith("#") and _indent(text) < steps_column + (
                    0 if text.lstrip().startswith("-") else 1):
                return line  # the next top-level key after the steps
        return len(self.lines)

    def dash_column(self, index: int) -> int:
        line = int(self.steps.lc.item(index)[0])
        while line > 0 and not self.lines[line].lstrip().startswith("-"):
            line -= 1
        return _indent(self.lines[line])

    def key_column(self, index: int) -> int:
        return int(self.steps.lc.item(index)[1])


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _locate(text: str) -> _Located:
    try:
        document = YAML(typ="rt").load(text)
    except YAMLError as error:
        raise _refused(f"pipeline.yaml is not valid YAML ({str(error).splitlines()[0]})",
                       hint="fix it in the editor (e) first") from None
    steps = document.get("steps") if isinstance(document, CommentedMap) else None
    if not isinstance(steps, CommentedSeq) or not steps:
        raise _refused("pipeline.yaml has no list of steps", hint="fix it in the editor (e) first")
    if steps.fa.flow_style():
        raise _refused("the steps are written as one flow list ([...]); the DAG editor changes block lists only",
                       hint="edit pipeline.yaml in the editor (e)")
    return _Located(text.splitlines(keepends=True), steps)


def _replace_token(lines: list[str], line: int, column: int, new: str) -> None:
    """Replace the scalar starting at (line, column) — plain, 'single' or "double" quoted — by ``new``."""
    text = lines[line]
    rest = text[column:]
    if rest[:1] in ("'", '"'):
        close = rest.find(rest[0], 1)
        length = close + 1 if close > 0 else len(rest.rstrip("\n"))
    else:
        match = _PLAIN_TOKEN.match(rest)
        length = match.end() if match else 0
    lines[line] = text[:column] + new + text[column + length:]


def _newline(lines: list[str]) -> str:
    return "\r\n" if lines and lines[0].endswith("\r\n") else "\n"


def _key_line(step: CommentedMap, key: str) -> int:
    return int(step.lc.key(key)[0])


def _insert_after_head(located: _Located, index: int, new_lines: list[str]) -> list[str]:
    """Insert ``new_lines`` (without indentation) as keys of step ``index``, after its name and kind lines."""
    step = located.step(index)
    after = max(_key_line(step, key) for key in ("name", "kind") if key in step)
    column = located.key_column(index)
    lines = list(located.lines)
    eol = _newline(lines)
    lines[after + 1:after + 1] = [" " * column + line + eol for line in new_lines]
    return lines


def _flow_list(names: list[str]) -> str:
    return "[" + ", ".join(names) + "]"


def _check_identifier(name: str, what: str) -> None:
    if not _IDENTIFIER.fullmatch(name):
        raise _refused(f"{name!r} is not a valid {what}",
                       hint="use letters, digits and underscores, not starting with a digit (e.g. orders_clean)")


# -- the changes ---------------------------------------------------------------------------------------------


def add_step(text: str, name: str, kind: str, *, reads: str = "", depends_on: list[str] | None = None,
             existing_files: set[str] | None = None) -> DagEdit:
    """Add a step after the last one. ``reads``: the table a transform selects from, a check checks or a
    load writes out, or an extract's source path. A transform or check gets ``<name>.sql`` from
    ``SQL_TEMPLATES`` (an existing file of that name is used as it is)."""
    _check_identifier(name, "step name")
    if kind not in NEW_STEP_KINDS:
        known = kind in STEP_KINDS or step_kinds.get(kind) is not None
        raise _refused(f"the editor does not add {kind} steps" if known else f"unknown step kind `{kind}`",
                       hint=f"it adds {', '.join(NEW_STEP_KINDS)} steps"
                            + ("; write this one in pipeline.yaml (its function or settings)" if known else ""))
    reads = reads.strip()
    if not reads:
        what = "the source file path" if kind == "extract" else "the table it reads"
        raise _refused(f"a new {kind} step needs {what}")
    if kind != "extract":
        _check_identifier(reads, "table name")
    located = _locate(text)
    last = len(located.steps) - 1
    files: dict[str, str] = {}
    body = [f"kind: {kind}"]
    sql_file = f"{name}.sql"
    if kind == "extract":
        body += ["source:", f"  path: {_quoted(reads)}"]
    elif kind == "transform":
        body.append(f"sql: {sql_file}")
        if sql_file not in (existing_files or set()):
            files[sql_file] = SQL_TEMPLATES["transform"].format(name=name, table=reads)
    elif kind == "check":
        body += [f"table: {reads}", "checks:", f"  - sql: {sql_file}", f"    name: {name}"]
        if sql_file not in (existing_files or set()):
            files[sql_file] = SQL_TEMPLATES["check"].format(name=name, table=reads)
    else:
        body += [f"table: {reads}", "to:", f"  path: exports/{name}.parquet"]
    if depends_on:
        for upstream in depends_on:
            _check_identifier(upstream, "step name")
        body.append(f"depends_on: {_flow_list(depends_on)}")
    dash, column = located.dash_column(last), located.key_column(last)
    lines = list(located.lines)
    eol = _newline(lines)
    end = located.content_end(last)
    if end and not lines[end - 1].endswith(("\n", "\r")):
        lines[end - 1] += eol
    separated = len(located.steps) > 1 and not lines[located.start_line(1) - 1].strip()
    block = ([eol] if separated else []) + [" " * dash + "-" + " " * (column - dash - 1) + f"name: {name}" + eol]
    block += [" " * column + line + eol for line in body]
    lines[end:end] = block
    return DagEdit("".join(lines), files, f"added {kind} step `{name}`")


def remove_step(text: str, name: str) -> DagEdit:
    """Remove step ``name`` (its lines, the comments right above it and the blank lines after it).
    Its SQL file stays on disk; a step that still reads its table or depends on it makes the change refused."""
    located = _locate(text)
    index = located.index_of(name)
    located.step(index)
    if len(located.steps) == 1:
        raise _refused(f"`{name}` is the pipeline's only step", hint="a pipeline needs at least one step")
    lines = list(located.lines)
    start, end = located.start_line(index), located.end_line(index)
    if index == len(located.steps) - 1:  # the last step: keep the blank lines that separated it from what follows
        end = located.content_end(index)
        while start > 0 and not lines[start - 1].strip():
            start -= 1
    del lines[start:end]
    return DagEdit("".join(lines), {}, f"removed step `{name}`")


def rename_step(text: str, old: str, new: str, *, existing_files: set[str] | None = None,
                sql_text: str | None = None, rename_sql_file: bool = False) -> DagEdit:
    """Rename step ``old`` to ``new`` and every other step's ``depends_on`` entry naming it.

    The table it publishes keeps its name (``output: old`` is written when the table was named after
    the step), so no SQL reading it and no published version changes. A transform keeps its SQL file
    (``sql: old.sql`` is written when it was implied) unless ``rename_sql_file``: then the file's
    text (``sql_text``) is saved as ``new.sql`` (the old file stays until removed by hand).
    """
    _check_identifier(new, "step name")
    if new == old:
        raise _refused(f"the step is already named `{old}`")
    located = _locate(text)
    index = located.index_of(old)
    step = located.step(index)
    lines = list(located.lines)
    # other steps' depends_on entries, bottom-up so earlier positions stay valid
    for other in located.steps:
        depends = other.get("depends_on") if isinstance(other, CommentedMap) else None
        if isinstance(depends, CommentedSeq):
            for position, upstream in enumerate(depends):
                if upstream == old:
                    line, column = depends.lc.item(position)
                    _replace_token(lines, int(line), int(column), new)
    line, column = step.lc.value("name")
    _replace_token(lines, int(line), int(column), new)
    kind = step.get("kind")
    added: list[str] = []
    files: dict[str, str] = {}
    if kind in ("extract", "transform") and "output" not in step:
        added.append(f"output: {old}")
    if kind == "transform":
        current = str(step.get("sql") or f"{old}.sql")
        if rename_sql_file:
            if f"{new}.sql" in (existing_files or set()):
                raise _refused(f"a file named {new}.sql is already in the pipeline's folder",
                               hint="choose another name, or keep the SQL file's name")
            files[f"{new}.sql"] = sql_text if sql_text is not None else ""
            if "sql" in step:
                value_line, value_column = step.lc.value("sql")
                _replace_token(lines, int(value_line), int(value_column), f"{new}.sql")
        elif "sql" not in step:
            added.append(f"sql: {current}")
    if added:
        located.lines = lines
        lines = _insert_after_head(located, index, added)
    return DagEdit("".join(lines), files, f"renamed step `{old}` to `{new}`")


def set_depends_on(text: str, name: str, depends_on: list[str]) -> DagEdit:
    """Set step ``name``'s ``depends_on`` to ``depends_on`` (written as a flow list; removed when empty)."""
    for upstream in depends_on:
        _check_identifier(upstream, "step name")
    located = _locate(text)
    index = located.index_of(name)
    step = located.step(index)
    lines = list(located.lines)
    eol = _newline(lines)
    new_line = [f"depends_on: {_flow_list(depends_on)}"] if depends_on else []
    if "depends_on" in step:
        first = _key_line(step, "depends_on")
        value = step["depends_on"]
        last = first
        if isinstance(value, CommentedSeq) and value and not value.fa.flow_style():
            last = int(value.lc.item(len(value) - 1)[0])
        column = _indent(lines[first]) if not lines[first].lstrip().startswith("-") else int(step.lc.key("depends_on")[1])
        prefix = lines[first][:column] if lines[first].lstrip().startswith("-") else " " * column
        lines[first:last + 1] = [prefix + line + eol for line in new_line]
        if not new_line and lines[first - 1:first] and prefix.strip():  # depends_on was the `- ` line: keep the dash
            lines.insert(first, prefix.rstrip() + eol)
    elif new_line:
        lines = _insert_after_head(located, index, new_line)
    shown = ", ".join(depends_on) if depends_on else "nothing"
    return DagEdit("".join(lines), {}, f"`{name}` depends on {shown}")


def _quoted(value: str) -> str:
    """A YAML scalar: plain when safe, else double-quoted (JSON is valid YAML)."""
    import json

    return value if re.fullmatch(r"[A-Za-z0-9_./*-]+", value) and value[0] not in "*-" else json.dumps(value)


# -- a session: changes, undo, save ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DagState:
    """The pipeline as the session has it after a change: pipeline.yaml's text, new SQL files, its plan."""

    text: str
    files: dict[str, str]
    plan: Plan | None
    description: str = ""


class DagSession:
    """Pending DAG changes of one pipeline: each validated when made, undoable one by one until saved."""

    def __init__(self, project: Project, pipeline: str) -> None:
        self.project = project
        self.pipeline = pipeline
        self.folder = project.pipeline_folder(pipeline)
        self.path = self.folder / PIPELINE_FILE
        self.loaded_text = read_text(self.path)
        self.loaded_sha = _sha(self.loaded_text)
        try:
            plan: Plan | None = plan_trial(project, pipeline, {})
        except FlowdeckError:
            plan = None  # an invalid pipeline can still be mended by a change
        self.states: list[DagState] = [DagState(self.loaded_text, {}, plan)]

    @property
    def current(self) -> DagState:
        """The pipeline with every pending change."""
        return self.states[-1]

    @property
    def dirty(self) -> bool:
        """Whether there are changes not saved."""
        return len(self.states) > 1

    def changes(self) -> list[str]:
        """What the pending changes are, oldest first."""
        return [state.description for state in self.states[1:]]

    def _existing_files(self) -> set[str]:
        on_disk = {entry.name for entry in self.folder.iterdir()} if self.folder.is_dir() else set()
        return on_disk | set(self.current.files)

    def apply(self, change: Callable[[str], DagEdit]) -> DagState:
        """Make ``change`` (one of this module's functions, bound to its arguments) if the result is a valid
        pipeline; else raise the validation's error (with its file and line) and keep everything as it was."""
        edit = change(self.current.text)
        files = {**self.current.files, **edit.files}
        plan = plan_trial(self.project, self.pipeline, {PIPELINE_FILE: edit.text, **files})
        state = DagState(edit.text, files, plan, edit.description)
        self.states.append(state)
        return state

    def add_step(self, name: str, kind: str, *, reads: str = "", depends_on: list[str] | None = None) -> DagState:
        """Add a step (see ``add_step``)."""
        existing = self._existing_files()
        return self.apply(lambda text: add_step(text, name, kind, reads=reads, depends_on=depends_on,
                                                existing_files=existing))

    def remove_step(self, name: str) -> DagState:
        """Remove a step (see ``remove_step``)."""
        return self.apply(lambda text: remove_step(text, name))

    def rename_step(self, old: str, new: str, *, rename_sql_file: bool = False) -> DagState:
        """Rename a step (see ``rename_step``)."""
        existing = self._existing_files()
        sql_text = None
        if rename_sql_file:
            sql_text = self._sql_text_of(old)
        return self.apply(lambda text: rename_step(text, old, new, existing_files=existing, sql_text=sql_text,
                                                   rename_sql_file=rename_sql_file))

    def set_depends_on(self, name: str, depends_on: list[str]) -> DagState:
        """Set a step's depends_on (see ``set_depends_on``)."""
        return self.apply(lambda text: set_depends_on(text, name, depends_on))

    def _sql_text_of(self, step: str) -> str:
        plan = self.current.plan
        config: Any = plan.steps[step].config if plan is not None and step in plan.steps else None
        file_name = (getattr(config, "sql", None) or f"{step}.sql") if config is not None else f"{step}.sql"
        if file_name in self.current.files:
            return self.current.files[file_name]
        try:
            return read_text(self.folder / file_name)
        except FileNotFoundError:
            raise _refused(f"{file_name} is not in the pipeline's folder, so it cannot be renamed") from None

    def undo(self) -> str | None:
        """Take back the last pending change; return what it was (None when nothing is pending)."""
        if not self.dirty:
            return None
        return self.states.pop().description

    def save(self, write: Callable[[str, str], Path]) -> list[Path]:
        """Write the pending changes with ``write`` (the project-relative path and the text): new SQL files
        first, pipeline.yaml last. Refused, writing nothing, when pipeline.yaml changed on disk since it was read."""
        try:
            on_disk = read_text(self.path)
        except FileNotFoundError:
            on_disk = ""
        if _sha(on_disk) != self.loaded_sha:
            raise ConfigError(f"not saved: {self.path.name} of `{self.pipeline}` changed on disk since the DAG "
                              "editor read it", location=Location(self.path),
                              hint="leave the DAG editor (discarding its changes) and open it again to edit the new version")
        written = []
        state = self.current
        for name, text in state.files.items():
            written.append(write(str((self.folder / name).relative_to(self.project.root)), text))
        written.append(write(str(self.path.relative_to(self.project.root)), state.text))
        self.loaded_text, self.loaded_sha = state.text, _sha(state.text)
        self.states = [DagState(state.text, {}, state.plan)]
        return written


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
