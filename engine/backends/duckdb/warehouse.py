"""Opening the project's DuckDB warehouse with its settings: threads, memory, temp folder, encryption,
and confined to the project (``confinement.py``).

A development environment's warehouse is opened with prod's attached read-only (``attach_prod``), so
its views on the tables it reads from prod resolve (docs/environments.md). It is attached before the
connection is confined, because a confined connection may attach nothing: user SQL must never reach
the runtime folder, where prod's file lives, to attach it writable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from flowdeck.engine.backends.duckdb.backend import (
    PROD_CATALOG,
    LockWait,
    WaitCallback,
    connect_warehouse,
    lock_holder_pid,
)
from flowdeck.engine.backends.duckdb.confinement import confine
from flowdeck.engine.errors import StepFailed
from flowdeck.engine.masking import mask
from flowdeck.engine.project.project import PROD
from flowdeck.engine.secrets import resolve
from flowdeck.engine.sql.render import identifier, string

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project

# A development environment's warehouse file is made with 128 KiB blocks, half DuckDB's default: it holds its
# bookkeeping and the tables it built, each non-empty table taking one block at least, so smaller blocks keep it
# small. Not smaller than 128: DuckDB bit-packs a column only when 2,048 of its values fit in half a block, so below
# 64 KiB it stores every BIGINT column uncompressed, below 128 KiB every HUGEINT (the DECIMAL(38, s) of a sum).
# An aggregate of 27,429 rows took 1.2 MB at 16 KiB, 0.4 MB at 128 KiB (bench/README.md, environments).
ENVIRONMENT_BLOCK_SIZE = 128 * 1024


def open_warehouse(
    project: Project,
    *,
    read_only: bool = False,
    timeout: float | None = None,
    on_wait: WaitCallback | None = None,
    temp_directory: Path | None = None,
    before_lock: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    attach_as: str | None = None,
    reads_prod: bool = True,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse as flowdeck.yaml describes it; an encrypted one is opened with its key from the secrets store.

    The connection comes back confined (``confinement.confine``): user SQL reaches only the
    project's folders, and its settings are locked. ``before_lock`` is flowdeck's last chance
    to set up the connection (its cursors' progress bar, other files to attach) before the lock; with
    ``attach_as`` the warehouse is attached under that name to an in-memory connection (which can then
    attach more, even when the warehouse is only read). A development environment's warehouse comes
    with prod's attached read-only, unless ``reads_prod`` is false (a listing of its own tables, which
    need not wait for a prod writer).
    """
    settings = project.config.warehouse
    config: dict[str, Any] = {}
    if settings.threads:
        config["threads"] = settings.threads
    if settings.memory_limit:
        config["memory_limit"] = settings.memory_limit
    if temp_directory is not None:
        config["temp_directory"] = str(temp_directory)
    if project.environment != PROD:
        # a development environment holds only what changed: smaller blocks than prod's keep it small, yet large
        # enough that its tables are stored compressed (ENVIRONMENT_BLOCK_SIZE); set on creation, for the file's life
        config["default_block_size"] = str(ENVIRONMENT_BLOCK_SIZE)
    # relative file names in SQL (`read_csv('data/x.csv')`) are found in the project, whatever the working directory
    config["file_search_path"] = str(project.root)
    key: str | None = None
    if settings.encrypt:
        key = resolve(settings.encryption_key, project)
    extensions = project.resolve_path(settings.extension_directory) if settings.extension_directory else None
    project.refuse_environment_links()  # a link there could lead a run to read or write outside the project
    if not read_only:
        if project.environment != PROD:  # envs/ and envs/<name>/ are runtime folders: the owner's only
            project.environments_dir.mkdir(mode=0o700, exist_ok=True)
            project.warehouse_path.parent.mkdir(mode=0o700, exist_ok=True)
        project.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    connection = connect_warehouse(
        project.warehouse_path,
        read_only=read_only,
        timeout=settings.lock_timeout.total_seconds() if timeout is None else timeout,
        on_wait=on_wait,
        config=config,
        encryption_key=key,
        extension_directory=extensions,
        attach_as=attach_as,
    )
    try:
        if reads_prod and project.environment != PROD and project.prod_warehouse_path.exists():
            attach_prod(connection, project.prod_warehouse_path, key=key,
                        timeout=settings.lock_timeout.total_seconds() if timeout is None else timeout, on_wait=on_wait)
        if before_lock is not None:
            before_lock(connection)
        confine(connection, project)
    except BaseException:
        connection.close()
        raise
    return connection


def attach_prod(connection: duckdb.DuckDBPyConnection, path: Path, *, key: str | None, timeout: float,
                on_wait: WaitCallback | None) -> None:
    """Attach prod's warehouse read-only as ``fd_prod``, waiting (and saying who holds it) while a prod run
    writes it, up to ``timeout`` seconds: DuckDB lets no other process open a file a writer holds, not even
    read-only. A read-only attach never takes prod's write lock, and a write through it is refused by DuckDB."""
    options = "READ_ONLY" + (f", ENCRYPTION_KEY {string(key)}" if key is not None else "")
    statement = f"ATTACH {string(str(path))} AS {identifier(PROD_CATALOG)} ({options})"
    waiting = LockWait(f"prod's warehouse {path}", timeout, on_wait,
                       why="; this environment reads its unchanged tables from there")
    while True:
        try:
            connection.execute(statement)
            return
        except duckdb.IOException as error:
            pid = lock_holder_pid(error)
            if pid is None:
                raise StepFailed(f"cannot read prod's warehouse {path}: {mask(str(error).splitlines()[0])}",
                                 transient=True) from None
            waiting.held_by(pid)


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
