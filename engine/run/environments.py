"""Development environments as a whole: what each holds (``flowdeck env list``) and dropping one (``env drop``).

An environment is a warehouse file of its own under ``envs/<name>/`` (``Project.in_environment``)
sharing the project's ledger; prod is the project's configured warehouse. What an environment
holds is read from its warehouse: the tables it built (those with a commit marker there) and the
ones it reads from prod (its views on prod's tables, ``_flowdeck.prod_links``). docs/environments.md.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowdeck.engine.errors import FlowdeckError, NotFound, ParamError
from flowdeck.engine.project.project import PROD, Project, wal_path
from flowdeck.engine.run.backend_factory import OnWait, open_backend
from flowdeck.state import Ledger, RunRecord
from flowdeck.state.records import iso
from flowdeck.state.status import RunStatus


@dataclass(frozen=True)
class EnvironmentSummary:
    """One environment: its warehouse file and size, what it built, what it reads from prod, its runs."""

    name: str
    warehouse: Path
    size_bytes: int | None  # None: no warehouse file yet
    built: tuple[str, ...] | None  # None: the warehouse could not be read now (busy), or there is none
    from_prod: tuple[str, ...] | None
    runs: int
    last_run: RunRecord | None
    note: str | None = None  # why the tables are not known

    def to_json(self) -> dict[str, Any]:
        """The documented JSON of one environment (``flowdeck env list --json``)."""
        last = self.last_run
        return {"name": self.name, "warehouse": str(self.warehouse), "size_bytes": self.size_bytes,
                "built": list(self.built) if self.built is not None else None,
                "from_prod": list(self.from_prod) if self.from_prod is not None else None,
                "runs": self.runs, "note": self.note,
                "last_run": None if last is None else {"run_id": last.run_id, "pipeline": last.pipeline,
                                                       "status": str(last.status),
                                                       "created_at": iso(last.created_at)}}


def environment_names(project: Project, ledger: Ledger) -> list[str]:
    """prod, then every environment with a warehouse folder or a run, by name."""
    names = {name for name, _, _ in ledger.environments()}
    if project.environments_dir.is_dir():
        for folder in project.environments_dir.iterdir():
            try:
                names.add(project.in_environment(folder.name).environment)
            except FlowdeckError:
                continue  # not an environment's folder (not an identifier): never made by flowdeck
    names.discard(PROD)
    return [PROD, *sorted(names)]


def list_environments(project: Project, ledger: Ledger, *, wait: float = 5.0,
                      on_wait: OnWait | None = None) -> list[EnvironmentSummary]:
    """Every environment with what it holds now (``flowdeck env list``); a warehouse a run holds for longer
    than ``wait`` seconds is listed without its tables, saying so."""
    runs = {name: (count, last) for name, count, last in ledger.environments()}
    found: list[EnvironmentSummary] = []
    for name in environment_names(project, ledger):
        seen = project.in_environment(name)
        path = seen.warehouse_path
        count, last = runs.get(name, (0, None))
        built: tuple[str, ...] | None = None
        linked: tuple[str, ...] | None = None
        note: str | None = None
        size = _size(path)
        if size is not None:
            try:
                built, linked = _tables(seen, wait=wait, on_wait=on_wait)
            except FlowdeckError as error:
                note = error.what
        found.append(EnvironmentSummary(name=name, warehouse=path, size_bytes=size, built=built, from_prod=linked,
                                        runs=count, last_run=last, note=note))
    return found


def _size(path: Path) -> int | None:
    """The warehouse file and its write-ahead log, in bytes (None: there is no warehouse yet)."""
    if not path.exists():
        return None
    wal = wal_path(path)
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _tables(project: Project, *, wait: float, on_wait: OnWait | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The tables an environment built (current, with a commit marker) and those it reads from prod."""
    backend = open_backend(project, "read", engine="duckdb", wait=wait, on_wait=on_wait, reads_prod=False)
    try:
        linked = backend.prod_links()
        built = sorted({marker.output for marker in backend.commit_markers()
                        if marker.output not in linked and backend.table_exists(marker.output)})
    finally:
        backend.close()
    return tuple(built), tuple(linked)


def drop_environment(project: Project, ledger: Ledger, name: str) -> Path:
    """Remove environment ``name``'s warehouse folder; the folder removed. Refuses prod, an environment that
    does not exist, and one a run is queued or running in. Its runs stay in the ledger."""
    if name == PROD:
        raise ParamError("prod cannot be dropped: it is the project's own warehouse",
                         hint="drop a development environment, for example `flowdeck env drop dev`")
    environment = project.in_environment(name)  # the one gate: an identifier, never a path
    folder = environment.warehouse_path.parent
    _refuse_links(environment)
    if not folder.is_dir():
        known = [env for env in environment_names(project, ledger) if env != PROD]
        raise NotFound(f"there is no environment `{name}` (no folder {folder})",
                       hint=f"environments: {', '.join(known)}" if known else "no development environment exists yet")
    active = [run for run in ledger.runs_in_status(RunStatus.QUEUED, RunStatus.RUNNING) if run.environment == name]
    if active:
        run = active[0]
        raise ParamError(f"run {run.run_id} of {run.pipeline} is {run.status} in environment `{name}`",
                         hint=f"wait for it to finish (`flowdeck logs {run.run_id} -f`) or cancel it "
                         f"(`flowdeck cancel {run.run_id}`), then drop `{name}`")
    try:  # rmtree never follows a link inside the folder either (it removes fd by fd, with O_NOFOLLOW)
        shutil.rmtree(folder)
    except OSError as error:
        raise FlowdeckError(f"could not remove environment `{name}`'s folder {folder}: {error.strerror or error}",
                            hint="check the folder's owner and permissions; what was removed of it is gone, "
                            f"the rest is still there (`ls -la {folder}`)") from None
    return folder


def _refuse_links(environment: Project) -> None:
    """Refuse to drop an environment (the project seen from it) whose folder, the ``envs`` folder above it, or
    anything inside it is a symbolic link: deleting through it could delete outside the project (the link
    itself is left for a person to judge)."""
    links = environment.environment_links(deep=True)
    if links:
        link = links[0]
        raise ParamError(f"environment `{environment.environment}` was not dropped: {link} is a symbolic link (to {os.readlink(link)}), "
                         "and flowdeck never deletes through a link",
                         hint=f"an environment's folder holds plain files that flowdeck made; look at where the link "
                         f"points, and remove the link itself by hand (`rm {link}`) if it should go")
