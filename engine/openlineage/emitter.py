"""Queue a run's OpenLineage events as the run tells its observer what happens: the plan is made
(the pipeline's START), a step finished (its START and its end, with its datasets), the run
finished (the pipeline's COMPLETE, FAIL or ABORT).

Each event has a key (``<run>:run:START``, ``<run>:step:<step>:COMPLETE``, ...) so queuing it
again is a no-op; they go into the ledger's outbox, never straight to the catalog, so a catalog
that is down costs nothing but a later delivery. Every text of an event goes through the masker
before it is queued. Building an event never fails a run: a problem is logged on the run as a
warning and the run goes on.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from openlineage.client.event_v2 import RunState

from flowdeck.engine.backends.base import Backend
from flowdeck.engine.masking import mask
from flowdeck.engine.openlineage.events import (
    RUN_STATES,
    STEP_STATES,
    RunFacts,
    jobs_namespace,
    run_event,
    step_events,
)
from flowdeck.engine.project.project import PROD, Project
from flowdeck.engine.sql.render import identifier
from flowdeck.state import Ledger
from flowdeck.state.records import RunRecord
from flowdeck.state.status import StepStatus

if TYPE_CHECKING:
    from flowdeck.engine.plan.planner import Plan

Build = Callable[[RunRecord], list[tuple[str, str, dict[str, Any]]]]
# the executor's Observer and RunUpdate (run/executor.py), not imported: the executor imports this module
Observer = Callable[[Any], None]
_STEP_ENDS = {"step.succeeded", "step.failed", "step.canceled"}


class LineageEmitter:
    """The OpenLineage events of a project's runs, queued in its ledger's outbox."""

    def __init__(self, project: Project, ledger: Ledger) -> None:
        self.project = project
        self.ledger = ledger
        settings = project.config.lineage.openlineage
        assert settings is not None, "only built when lineage.openlineage is configured"
        self.namespace = settings.namespace or project.config.name

    def observing(self, run_id: str, inner: Observer, *, backend: Callable[[], Backend | None],
                  plan: Callable[[], Plan | None]) -> Observer:
        """``inner``, also queuing the events of what run ``run_id`` tells it (the executor's one hook)."""

        def observe(update: Any) -> None:  # a RunUpdate: kind, step, ...
            if update.kind == "plan":
                self.run_started(run_id)
            elif update.kind in _STEP_ENDS and update.step is not None:
                current = plan()
                planned = current.steps.get(update.step) if current is not None else None
                self.step_finished(run_id, update.step, planned, backend())
            elif update.kind == "run.finished":
                self.run_finished(run_id)
            inner(update)

        return observe

    def run_started(self, run_id: str) -> None:
        """Queue the pipeline job's START."""
        self._guarded(run_id, lambda run: [self._run_start(run)])

    def step_finished(self, run_id: str, step: str, planned: Any, backend: Backend | None) -> None:
        """Queue a finished step's START and its COMPLETE, FAIL or ABORT, with its inputs and outputs."""

        def build(run: RunRecord) -> list[tuple[str, str, dict[str, Any]]]:
            record = next((item for item in self.ledger.steps_of(run_id) if item.step == step), None)
            if record is None or record.status not in STEP_STATES:
                return []
            lineage = [item for item in self.ledger.lineage_of_run(run_id) if item.step == step]
            facts = self._facts(run)
            tables = {item.input for item in lineage if item.input_kind == "table"}
            tables |= {item.output for item in lineage if item.output_kind == "table"}
            tables |= set(getattr(planned, "reads", set())) | ({record.output} if record.output else set())
            facts.columns = _columns(backend, tables)
            facts.connections = self._connections(lineage)
            if run.environment != PROD and backend is not None:  # what it reads from prod is prod's dataset
                facts.from_prod = frozenset(backend.prod_links())
            started, ended = step_events(facts, record, planned, lineage)
            state = STEP_STATES[StepStatus(record.status)].value
            return [(f"{run_id}:step:{step}:START", "START", started), (f"{run_id}:step:{step}:{state}", state, ended)]

        self._guarded(run_id, build, job_suffix=f".{step}")

    def run_finished(self, run_id: str) -> None:
        """Queue the pipeline job's COMPLETE, FAIL (failed or abandoned) or ABORT (canceled); and its
        START when the run ended before its plan was made (the START key makes that a no-op otherwise)."""

        def build(run: RunRecord) -> list[tuple[str, str, dict[str, Any]]]:
            state = RUN_STATES.get(run.status)
            if state is None:  # still running: whoever finishes it queues its end
                return []
            event = run_event(self._facts(run), state, run.ended_at or time.time(),
                              error=run.error if run.error and state.value != "COMPLETE" else None)
            return [self._run_start(run), (f"{run_id}:run:{state.value}", state.value, event)]

        self._guarded(run_id, build)

    def _run_start(self, run: RunRecord) -> tuple[str, str, dict[str, Any]]:
        return (f"{run.run_id}:run:START", "START",
                run_event(self._facts(run), RunState.START, run.started_at or run.created_at))

    def _guarded(self, run_id: str, build: Build, job_suffix: str = "") -> None:
        try:
            run = self.ledger.get_run(run_id)
            if run is None:
                return
            events = build(run)
            job = f"{self.project.config.name}.{run.pipeline}{job_suffix}"
            self.ledger.queue_lineage_events([(key, run_id, job, kind, masked(payload))
                                              for key, kind, payload in events])
        except Exception as error:  # lineage is worth a warning, never a failed run
            self.ledger.log(run_id, f"could not queue OpenLineage events: {type(error).__name__}: {mask(str(error))}",
                            level="warning", kind="lineage.error")

    def _facts(self, run: RunRecord) -> RunFacts:
        # the run's engine as the executor picks it (run/executor.py's engine_of, which imports this module)
        engine = str(run.options.get("engine") or self.project.config.engine)
        # from the run's environment, not this emitter's project: the daemon's sender queues a dead dev run's end
        return RunFacts(project=self.project.config.name, namespace=jobs_namespace(self.namespace, run.environment),
                        run=run, warehouse=warehouse_namespace(self.project.in_environment(run.environment), engine),
                        prod_warehouse=warehouse_namespace(self.project.in_environment(PROD), engine))

    def _connections(self, lineage: list[Any]) -> dict[str, str]:
        names = {record.input.partition(":")[0] for record in lineage if record.input_kind == "database"}
        names |= {record.output.partition(":")[0] for record in lineage if record.output_kind == "database"}
        if not names:
            return {}
        from flowdeck.engine.connectors.connection import connection_config, describe  # only for database steps

        return {name: connection_namespace(connection_config(self.project, name).type, describe(self.project, name))
                for name in names & set(self.project.config.connections)}


def connection_namespace(kind: str, described: str) -> str:
    """A database's dataset namespace: its URL's scheme, host and port (no user, no password, no path)."""
    parts = urllib.parse.urlsplit(described)
    if parts.scheme and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return f"{kind}://{described.lstrip('/')}" if "://" not in described else described


def warehouse_namespace(project: Project, engine: str) -> str:
    """The dataset namespace of the warehouse's tables: its file on DuckDB, its location on Spark."""
    if engine == "spark":
        return "spark://" + (project.config.spark.warehouse or str(project.runtime_dir / "spark-warehouse")).split("://")[-1]
    if engine == "duckdb":
        return f"duckdb://{project.warehouse_path}"
    return f"{engine}://{project.config.name}"


def masked(document: Any) -> Any:
    """``document`` with every string (keys too) through the masker: no secret reaches a catalog."""
    if isinstance(document, dict):
        return {mask(key): masked(value) for key, value in document.items()}
    if isinstance(document, list):
        return [masked(value) for value in document]
    return mask(document) if isinstance(document, str) else document


def _columns(backend: Backend | None, tables: set[str]) -> dict[str, list[tuple[str, str]]]:
    """The (column, type)s of the tables that exist now (their schema facets)."""
    found: dict[str, list[tuple[str, str]]] = {}
    if backend is None:
        return found
    for table in sorted(tables):
        try:
            if backend.table_exists(table):
                found[table] = backend.columns(identifier(table))
        except Exception:  # noqa: BLE001 - a table a failed step never made has no schema to tell
            continue
    return found
