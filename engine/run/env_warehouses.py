"""An environment's warehouse beside prod's: prod opened (read-only to compare, for writing to promote) with the
environment's file attached read-only, and what the environment built itself (its current commit markers).

What an environment changed is what it built: the outputs with a current commit marker in its own warehouse.
A table it reads from prod has no marker of its own there (it is a view of prod's table), so it is never
compared or promoted. DuckDB only: an environment is a DuckDB file beside prod's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flowdeck.engine.backends.base import Backend, CommitMarker
from flowdeck.engine.errors import ConfigError, FlowdeckError, NotFound, ParamError
from flowdeck.engine.plan.planner import Plan, PlannedStep, build_plan
from flowdeck.engine.project.project import PROD, Project
from flowdeck.engine.run.backend_factory import open_beside
from flowdeck.engine.sql.render import identifier

ENV_DATABASE = "fd_env"  # the name the environment's warehouse is attached under
# The name an environment's own connection gives prod's warehouse: a table it reads from prod is a view of
# `fd_prod.main.<table>` there. Comparing reads such views, so prod is attached under that name.
PROD_DATABASE = "fd_prod"
OnWait = Callable[[int | None, float], None]


@dataclass(frozen=True)
class EnvOutput:
    """A table (or view) an environment built: its current marker there (the publish whose data it holds,
    with that publish's fingerprint) and, for a view, its query."""

    output: str
    marker: CommitMarker
    is_view: bool
    view_sql: str | None = None

    @property
    def relation(self) -> str:
        """The environment's table, as SQL on the connection it is attached to."""
        return f"{ENV_DATABASE}.main.{identifier(self.output)}"

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint the environment's run recorded with this data."""
        version = self.marker.state.get("version") or {}
        return version.get("fingerprint") if isinstance(version, dict) else None


def environment(project: Project, name: str) -> Project:
    """The project seen from development environment ``name``, which must exist; refuses prod and Spark."""
    if name == PROD:
        raise ParamError(f"`{PROD}` is where environments are compared with and promoted to",
                         hint="name a development environment, for example `dev`")
    env = project.in_environment(name)  # the one check of the name before it becomes a path
    if project.config.engine == "spark":
        raise ConfigError("environments are DuckDB warehouses; this project runs on Spark (`engine: spark`)",
                          hint="compare and promote on DuckDB projects (docs/environments.md)")
    env.refuse_environment_links()
    if not env.warehouse_path.is_file():
        raise NotFound(f"no environment `{name}`: its warehouse {env.warehouse_path} does not exist",
                       hint=f"build it with `flowdeck run PIPELINE --env {name}`")
    return env


def open_beside_prod(project: Project, env: Project, *, read_only: bool, wait: float | None = None,
                     on_wait: OnWait | None = None) -> Backend:
    """Prod's warehouse (read-only, or for writing) with ``env``'s attached read-only as ``ENV_DATABASE``.

    Prod's file is held as any reader or writer holds it (a read-only holder only while comparing);
    the environment's file is only read.
    """
    prod = project.in_environment(PROD)
    if read_only and not prod.warehouse_path.is_file():
        raise NotFound(f"prod has no warehouse yet ({prod.warehouse_path})",
                       hint="promote the environment to create it, or run a pipeline in prod first")
    # read-only, prod is attached under the name the environment's own views of prod's tables read it by
    return open_beside(prod, env.warehouse_path, name=ENV_DATABASE, read_only=read_only, wait=wait, on_wait=on_wait,
                       attach_as=PROD_DATABASE if read_only else None)


def built_outputs(backend: Backend, database: str = ENV_DATABASE) -> list[EnvOutput]:
    """What the environment (attached as ``database``) built itself, in the order it committed them (upstream first)."""
    markers = backend.markers_in(database)
    newest: dict[str, CommitMarker] = {}
    for marker in markers:
        newest[marker.output] = marker
    publishes = {(m.output, m.run_id): m for m in markers if m.kind == "publish"}
    found: list[EnvOutput] = []
    for output, marker in sorted(newest.items(), key=lambda item: item[1].seq or 0):
        kind, view_sql = backend.relation_in(database, output)
        if kind is None or (kind == "VIEW" and marker.checksum != "view"):
            continue  # dropped since, or now a view of prod's table: not the environment's own
        data_run = marker.data_run_id or marker.run_id
        published = publishes.get((output, data_run))  # after a rollback: the publish whose data it restored
        state = published.state if published is not None else marker.state
        current = CommitMarker(run_id=marker.run_id, step=marker.step, output=output, rows=marker.rows,
                               checksum=marker.checksum, kind=marker.kind, data_run_id=data_run,
                               base_run_id=marker.base_run_id, state=state, seq=marker.seq,
                               committed_at=marker.committed_at)
        found.append(EnvOutput(output=output, marker=current, is_view=kind == "VIEW", view_sql=view_sql))
    return found


def steps_by_output(project: Project) -> dict[str, tuple[Plan, PlannedStep]]:
    """Every output of the project's valid pipelines, with the pipeline and step that publish it."""
    found: dict[str, tuple[Plan, PlannedStep]] = {}
    for name in project.pipeline_names():
        try:
            plan = build_plan(project, name)
        except FlowdeckError:
            continue  # an invalid pipeline publishes nothing
        for step in plan.steps.values():
            if step.output is not None:
                found[step.output] = (plan, step)
    return found
