"""Confining DuckDB to the project: user SQL reaches only the project's folders, loads no extension,
and cannot change the settings that say so.

Every warehouse connection is confined before any user SQL runs on it (``open_warehouse``):
external access is off except for the project's own folders (``allowed_directories``, which
DuckDB checks after resolving ``..``, but without following symbolic links: a link inside an
allowed folder is followed, docs/security.md says so), extensions are never installed or
loaded on demand, and the configuration is locked, so ``SET`` cannot undo any of it. What
flowdeck itself needs first (an encrypted warehouse's key and httpfs, the temporary folder,
the progress bar of its cursors) is done before the lock.

What stays allowed: the project's top-level folders and files (not its runtime folder, where
the ledger, the secrets file and the logs live, nor hidden ones such as ``.git``), and the
folders the pipelines name outside the project (absolute source, target and trigger paths).
Relative names of the project's folders (``data/``) are allowed too: DuckDB checks a relative
path as written, and flowdeck's workers and daemon run in the project folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from flowdeck.engine.errors import FlowdeckError, SqlError
from flowdeck.engine.sql.params import folder_of_prefix
from flowdeck.engine.sql.render import literal

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project

_WILDCARD = re.compile(r"[{*?\[]")
# statement types `flowdeck query` runs: reading only (SHOW, DESCRIBE, SUMMARIZE and VALUES are SELECTs)
READING = ("SELECT", "EXPLAIN")


def allowed_locations(project: Project) -> tuple[list[str], list[str]]:
    """The directories and the files user SQL may read (and flowdeck's own exports write) in this project."""
    root = project.root
    runtime = project.runtime_dir
    directories: list[str] = []
    files: list[str] = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        entries = []
    for entry in entries:
        if entry.name.startswith(".") or entry.resolve() == runtime:
            continue  # the runtime folder (ledger, secrets, logs, anchors) and hidden ones are not data
        if entry.is_dir():
            directories += [f"{entry}/", f"{entry.name}/"]
        elif entry.is_file():
            files += [str(entry), entry.name]
    for folder in declared_folders(project):  # named by a pipeline, even if it does not exist yet (exports/)
        directories.append(f"{folder}/")
        if folder.is_relative_to(root) and folder != root:
            directories.append(f"{folder.relative_to(root)}/")
    return sorted(set(directories)), sorted(set(files))


def declared_folders(project: Project) -> list[Path]:
    """Folders the project's pipelines name: where a source, target or watched folder lives (up to
    its first parameter or wildcard), resolved; never the runtime folder."""
    from flowdeck.engine.project.config.steps import ExtractStep, FileSource, FileTarget, LoadStep

    found: set[Path] = set()
    for name in project.pipeline_names():
        try:
            config = project.pipeline(name).config
        except FlowdeckError:
            continue  # an invalid pipeline never runs
        templates = [trigger.folder + "/" for trigger in config.file_triggers]
        for step in config.steps:
            if isinstance(step, ExtractStep) and isinstance(step.source, FileSource):
                templates.append(step.source.path)
            elif isinstance(step, LoadStep) and isinstance(step.to, FileTarget):
                templates.append(step.to.path)
        for template in templates:
            if "://" in template:
                continue  # read by another engine (Spark), not DuckDB's file system
            folder = folder_of_prefix(project.root, _WILDCARD.split(template, maxsplit=1)[0])
            if folder != project.root and not folder.is_relative_to(project.runtime_dir):
                found.add(folder)  # (the project itself is never allowed whole: its runtime folder is in it)
    return sorted(found)


def confine(connection: duckdb.DuckDBPyConnection, project: Project) -> None:
    """Turn off everything user SQL must not reach, then lock the configuration (see the module's docstring)."""
    directories, files = allowed_locations(project)
    connection.execute(f"SET allowed_directories = {literal(directories)}")
    connection.execute(f"SET allowed_paths = {literal(files)}")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET autoinstall_known_extensions = false")
    connection.execute("SET autoload_known_extensions = false")
    connection.execute("SET lock_configuration = true")


def refuse_side_effects(sql: str) -> None:
    """Refuse SQL that would do more than read: COPY, ATTACH, INSTALL, LOAD, SET, EXPORT, CALL ... (`flowdeck query`)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        return  # a syntax error: DuckDB says it in its own words when the query runs
    for statement in statements:
        kind = str(statement.type).rsplit(".", 1)[-1]
        if kind not in READING:
            raise SqlError(
                f"`flowdeck query` only reads: a {kind} statement is refused",
                hint="query tables with SELECT (SHOW, DESCRIBE and SUMMARIZE work too); files are written by "
                "load steps, and settings come from flowdeck.yaml",
            )

