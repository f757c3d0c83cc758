"""OpenLineage RunEvents for a run and its steps, built with the openlineage-python client's classes.

Run ids are UUIDs derived from flowdeck's run id (and the step's name), so every event of one
run, from any process, names the same OpenLineage run. Datasets: warehouse tables in the
namespace of the warehouse (``duckdb:///path/to/warehouse.duckdb``, ``spark://<warehouse>``),
files in ``file``, database tables in their connection's URL, anything else a plugin reads in
its URL's scheme and host. A run in a development environment is never reported as prod's: its
jobs are in the namespace ``<namespace>.<environment>``, its events carry an ``environment`` tag,
the tables it builds are in its own warehouse's namespace, and the tables it reads from prod
(without building them) are prod's datasets, in prod's warehouse namespace.
"""

from __future__ import annotations

import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    error_message_run,
    job_type_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    tags_run,
)
from openlineage.client.serde import Serde

from flowdeck.state import LineageRecord, RunRecord, StepRecord
from flowdeck.state.status import RunStatus, StepStatus

RUN_STATES = {RunStatus.SUCCEEDED: RunState.COMPLETE, RunStatus.FAILED: RunState.FAIL,
              RunStatus.ABANDONED: RunState.FAIL, RunStatus.CANCELED: RunState.ABORT}
STEP_STATES = {StepStatus.SUCCEEDED: RunState.COMPLETE, StepStatus.FAILED: RunState.FAIL,
               StepStatus.CANCELED: RunState.ABORT}
_NAMESPACE = uuid.UUID("5b0e0c1e-3f4e-4f43-9f6e-666c6f776465")  # flowdeck's: run ids become OpenLineage UUIDs


def producer() -> str:
    """The URI naming flowdeck, and its version, as the producer of every event and facet."""
    return f"urn:flowdeck:{version('flowdeck')}"


@dataclass
class RunFacts:
    """What the events of one run say: names, ids, and where its tables live."""

    project: str
    namespace: str  # the jobs' namespace: the configured one, ``<namespace>.<environment>`` outside prod
    run: RunRecord
    warehouse: str  # the dataset namespace of the warehouse the run writes (its environment's)
    columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # table -> (column, type)
    connections: dict[str, str] = field(default_factory=dict)  # connection -> its URL (no password): a namespace
    prod_warehouse: str | None = None  # prod's warehouse namespace, for the tables a development run reads from prod
    from_prod: frozenset[str] = frozenset()  # the tables the run's environment reads from prod (views on them)

    @property
    def job(self) -> str:
        """The pipeline's job name: ``<project>.<pipeline>``."""
        return f"{self.project}.{self.run.pipeline}"

    @property
    def run_uuid(self) -> str:
        """The OpenLineage run id of the flowdeck run."""
        return str(uuid.uuid5(_NAMESPACE, f"{self.project}:{self.run.run_id}"))

    def step_uuid(self, step: str) -> str:
        """The OpenLineage run id of one step of the run."""
        return str(uuid.uuid5(_NAMESPACE, f"{self.project}:{self.run.run_id}:{step}"))


def jobs_namespace(namespace: str, environment: str) -> str:
    """The namespace of a run's jobs: the configured one for prod, ``<namespace>.<environment>`` for a
    development environment, so a catalog never takes a dev run for a run of prod's job (as dbt users
    give each target a namespace of its own)."""
    return namespace if environment == "prod" else f"{namespace}.{environment}"


def _environment_tag(facts: RunFacts) -> dict[str, Any]:
    """A development run's ``tags`` facet naming its environment (prod's events are as they were)."""
    if facts.run.environment == "prod":
        return {}
    return {"tags": tags_run.TagsRunFacet(tags=[tags_run.TagsRunFacetFields(
        key="environment", value=facts.run.environment, source="FLOWDECK")], producer=producer())}


def run_event(facts: RunFacts, state: RunState, at: float, *, error: str | None = None) -> dict[str, Any]:
    """The pipeline's event (the parent job of its steps) as a JSON document."""
    run_facets: dict[str, Any] = {"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
        version=version("flowdeck"), name="flowdeck", producer=producer()), **_environment_tag(facts)}
    if error:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage="python", producer=producer())
    event = RunEvent(eventType=state, eventTime=_time(at), producer=producer(),
                     run=Run(runId=facts.run_uuid, facets=run_facets),
                     job=Job(namespace=facts.namespace, name=facts.job, facets=_job_facets("PIPELINE")))
    return Serde.to_dict(event)


def step_events(facts: RunFacts, step: StepRecord, planned: Any, lineage: list[LineageRecord]) -> list[dict[str, Any]]:
    """START and the terminal event of one finished step, with its datasets (a child job of the run)."""
    parent = parent_run.ParentRunFacet(run=parent_run.Run(runId=facts.run_uuid),
                                       job=parent_run.Job(namespace=facts.namespace, name=facts.job),
                                       producer=producer())
    job = Job(namespace=facts.namespace, name=f"{facts.job}.{step.step}", facets=_job_facets("STEP"))
    run = Run(runId=facts.step_uuid(step.step), facets={"parent": parent, **_environment_tag(facts)})
    inputs = [_input(facts, record) for record in _unique_inputs(lineage)]
    outputs = _outputs(facts, step, planned, lineage)
    started = RunEvent(eventType=RunState.START, eventTime=_time(step.started_at or step.ended_at or 0.0),
                       producer=producer(), run=run, job=job, inputs=inputs, outputs=outputs)
    state = STEP_STATES.get(step.status, RunState.OTHER)
    end_facets: dict[str, Any] = {"parent": parent, **_environment_tag(facts)}
    if step.error:
        end_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=step.error, programmingLanguage="python", producer=producer())
    ended = RunEvent(eventType=state, eventTime=_time(step.ended_at or step.started_at or 0.0), producer=producer(),
                     run=Run(runId=run.runId, facets=end_facets), job=job, inputs=inputs, outputs=outputs)
    return [Serde.to_dict(started), Serde.to_dict(ended)]


def _job_facets(kind: str) -> dict[str, Any]:
    return {"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="FLOWDECK", jobType=kind,
                                                    producer=producer())}


def _unique_inputs(lineage: list[LineageRecord]) -> list[LineageRecord]:
    seen: dict[tuple[str, str], LineageRecord] = {}
    for record in lineage:
        seen.setdefault((record.input, record.input_kind), record)
    return list(seen.values())


def dataset_name(facts: RunFacts, name: str, kind: str) -> tuple[str, str]:
    """(namespace, name) of a table, file, database table or external source flowdeck recorded."""
    if kind == "table":  # a table a development run reads from prod is prod's dataset, not the environment's
        if name in facts.from_prod and facts.prod_warehouse is not None:
            return facts.prod_warehouse, name
        return facts.warehouse, name
    if kind == "file":
        return "file", name
    if kind == "database":  # connection:table
        connection, _, table = name.partition(":")
        return facts.connections.get(connection, f"flowdeck-connection://{connection}"), table or name
    parts = urllib.parse.urlsplit(name)
    if parts.scheme and parts.hostname:  # no user, password or query (a token may hide there)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else ""), parts.path or "/"
    return "external", name


def _schema(facts: RunFacts, table: str) -> dict[str, Any]:
    columns = facts.columns.get(table)
    if not columns:
        return {}
    return {"schema": schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=name, type=kind) for name, kind in columns],
        producer=producer())}


def _input(facts: RunFacts, record: LineageRecord) -> InputDataset:
    namespace, name = dataset_name(facts, record.input, record.input_kind)
    return InputDataset(namespace=namespace, name=name,
                        facets=_schema(facts, record.input) if record.input_kind == "table" else {})


def _outputs(facts: RunFacts, step: StepRecord, planned: Any, lineage: list[LineageRecord]) -> list[OutputDataset]:
    outputs: dict[tuple[str, str], str] = {}
    for record in lineage:
        outputs[(record.output, record.output_kind)] = record.output_kind
    if step.output and not outputs:
        outputs[(step.output, "table")] = "table"
    found = []
    for output, kind in outputs:
        namespace, name = dataset_name(facts, output, kind)
        facets = dict(_schema(facts, output)) if kind == "table" else {}
        sources = column_sources(planned, facts) if kind == "table" else None
        if sources:
            facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
                fields={column: column_lineage_dataset.Fields(inputFields=[
                    column_lineage_dataset.InputField(namespace=dataset_name(facts, table, "table")[0], name=table,
                                                      field=source)
                    for table, source in sorted(used)]) for column, used in sorted(sources.items()) if used},
                producer=producer())
        found.append(OutputDataset(namespace=namespace, name=name, facets=facets))
    return found


def column_sources(planned: Any, facts: RunFacts) -> dict[str, set[tuple[str, str]]] | None:
    """Output column -> the (table, column)s it derives from: from the step's SQL (sqlglot), or as a
    Python step declares it; None when unknown."""
    config = getattr(planned, "config", None)
    if config is not None and hasattr(config, "column_sources") and getattr(config, "lineage", None):
        declared: dict[str, set[tuple[str, str]]] = config.column_sources()  # PythonStep.column_sources
        return declared
    query = getattr(planned, "query", None)
    if query is None:
        return None
    from flowdeck.engine.sql.lineage import column_sources as traced  # sqlglot: only for lineage of SQL steps

    schema = {table: [name for name, _ in facts.columns[table]] for table in query.tables if table in facts.columns}
    return traced(query.tree, schema)


def _time(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).isoformat()
