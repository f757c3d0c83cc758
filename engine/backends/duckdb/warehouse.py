"""Opening the project's DuckDB warehouse with its settings: threads, memory, temp folder, encryption,
and confined to the project (``confinement.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from flowdeck.engine.backends.duckdb.backend import WaitCallback, connect_warehouse
from flowdeck.engine.backends.duckdb.confinement import confine
from flowdeck.engine.secrets import resolve

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project


def open_warehouse(
    project: Project,
    *,
    read_only: bool = False,
    timeout: float | None = None,
    on_wait: WaitCallback | None = None,
    temp_directory: Path | None = None,
    before_lock: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse as flowdeck.yaml describes it; an encrypted one is opened with its key from the secrets store.

    The connection comes back confined (``confinement.confine``): user SQL reaches only the
    project's folders, and its settings are locked. ``before_lock`` is flowdeck's last chance
    to set up the connection (its cursors' progress bar) before the lock.
    """
    settings = project.config.warehouse
    config: dict[str, Any] = {}
    if settings.threads:
        config["threads"] = settings.threads
    if settings.memory_limit:
        config["memory_limit"] = settings.memory_limit
    if temp_directory is not None:
        config["temp_directory"] = str(temp_directory)
    # relative file names in SQL (`read_csv('data/x.csv')`) are found in the project, whatever the working directory
    config["file_search_path"] = str(project.root)
    key: str | None = None
    if settings.encrypt:
        key = resolve(settings.encryption_key, project)
    extensions = project.resolve_path(settings.extension_directory) if settings.extension_directory else None
    if not read_only:
        project.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    connection = connect_warehouse(
        project.warehouse_path,
        read_only=read_only,
        timeout=settings.lock_timeout.total_seconds() if timeout is None else timeout,
        on_wait=on_wait,
        config=config,
        encryption_key=key,
        extension_directory=extensions,
    )
    try:
        if before_lock is not None:
            before_lock(connection)
        confine(connection, project)
    except BaseException:
        connection.close()
        raise
    return connection


def open_scratch(project: Project) -> duckdb.DuckDBPyConnection:
    """An empty in-memory DuckDB, confined as the warehouse is (user SQL reads the project's folders only):
    where a SQL unit test loads its rows and runs a step's query."""
    connection = duckdb.connect(":memory:", config={"file_search_path": str(project.root)})
    try:
        confine(connection, project)
    except BaseException:
        connection.close()
        raise
    return connection
