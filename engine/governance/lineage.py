"""Lineage for compliance: which inputs feed which outputs, by table and by column, across pipelines.

Two sources are combined. The plans say how tables derive from each other (the SQL, read
with sqlglot, down to columns); the ledger says what each run actually read (files with
their sha256, tables) and wrote. Masking policies are shown on the edges where they apply,
so an auditor can see where PII stops being readable.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.engine.errors import FlowdeckError, NotFound
from flowdeck.engine.project.config.steps import DatabaseSource, DatabaseTarget, ExtractStep, LoadStep, PythonStep, TransformStep

# sqlglot-based modules are imported where they are used: a run records lineage (sha256_file)
# and must not pay sqlglot's import for it
if TYPE_CHECKING:
    from flowdeck.engine.sql.column_masking import MaskedColumn
    from flowdeck.engine.plan.planner import Plan, PlannedStep
    from flowdeck.engine.project.project import Project
    from flowdeck.state import Ledger

@dataclass(frozen=True)
class Edge:
    """``source`` feeds ``target`` through ``step`` of ``pipeline``; ``masked`` names the masking applied."""

    source: str
    target: str
    pipeline: str
    step: str
    masked: str | None = None
    checksum: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (``flowdeck lineage --json``)."""
        return {"from": self.source, "to": self.target, "pipeline": self.pipeline, "step": self.step,
                "masked": self.masked, "checksum": self.checksum}


@dataclass
class LineageReport:
    """Everything upstream and downstream of one table or column."""

    target: str
    upstream: list[Edge] = field(default_factory=list)
    downstream: list[Edge] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (``flowdeck lineage --json``)."""
        return {"target": self.target, "upstream": [edge.to_json() for edge in self.upstream],
                "downstream": [edge.to_json() for edge in self.downstream], "notes": self.notes}


@dataclass(frozen=True)
class _Producer:
    pipeline: str
    step: PlannedStep


class ProjectLineage:
    """The project's steps indexed by the tables they write and read, with the warehouse's schemas."""

    def __init__(self, project: Project, ledger: Ledger | None, schemas: dict[str, list[str]]) -> None:
        from flowdeck.engine.plan.planner import build_plan

        self.project = project
        self.ledger = ledger
        self.schemas = {table.lower(): columns for table, columns in schemas.items()}
        self.producers: dict[str, _Producer] = {}
        self.consumers: dict[str, list[_Producer]] = {}
        self.notes: list[str] = []
        for name in project.pipeline_names():
            try:
                plan: Plan = build_plan(project, name)
            except FlowdeckError:
                self.notes.append(f"pipeline {name} is invalid and was left out (`flowdeck validate {name}`)")
                continue
            for step in plan.steps.values():
                producer = _Producer(name, step)
                if step.output:
                    self.producers[step.output] = producer
                for table in step.reads:
                    self.consumers.setdefault(table, []).append(producer)
        if not self.schemas:
            self.notes.append("the warehouse could not be read, so `SELECT *` could not be expanded; "
                              "run the pipelines once for complete column lineage")

    # -- tables ----------------------------------------------------------------------------------

    def table_report(self, table: str) -> LineageReport:
        """Every table and file upstream and downstream of ``table``."""
        self._known(table)
        report = LineageReport(target=table, notes=list(self.notes))
        report.upstream = list(self._walk(table, self._table_sources))
        report.downstream = list(self._walk(table, self._table_targets))
        return report

    def _table_sources(self, table: str) -> Iterable[Edge]:
        producer = self.producers.get(table)
        if producer is None:
            return
        step = producer.step
        if isinstance(step.config, ExtractStep):
            for node, checksum in self._inputs_read(table, step):
                yield Edge(node, table, producer.pipeline, step.name, self._mask_text(step), checksum)
        else:
            for source in sorted(step.query.tables if step.query else step.reads):
                yield Edge(source, table, producer.pipeline, step.name, self._mask_text(step))

    def _table_targets(self, table: str) -> Iterable[Edge]:
        for consumer in self.consumers.get(table, []):
            step = consumer.step
            if isinstance(step.config, LoadStep):
                yield Edge(table, _target_node(step.config), consumer.pipeline, step.name)
            elif step.output and step.output != table:
                yield Edge(table, step.output, consumer.pipeline, step.name, self._mask_text(step))

    # -- columns ---------------------------------------------------------------------------------

    def column_report(self, table: str, column: str) -> LineageReport:
        """Every column upstream and downstream of ``table.column``."""
        self._known(table)
        target = f"{table}.{column.lower()}"
        report = LineageReport(target=target, notes=list(self.notes))
        report.upstream = list(self._walk(target, self._column_sources))
        report.downstream = list(self._walk(target, self._column_targets))
        return report

    def _column_sources(self, node: str) -> Iterable[Edge]:
        if node.startswith("file:"):
            return
        table, column = node.rsplit(".", 1)
        producer = self.producers.get(table)
        if producer is None:
            return
        step = producer.step
        masked = self._masked(step).get(column)
        if isinstance(step.config, ExtractStep):
            for source, checksum in self._inputs_read(table, step):
                yield Edge(f"{source}#{column}", node, producer.pipeline, step.name, masked, checksum)
            return
        sources = self._sources(step) or {}
        for source_table, source_column in sorted(sources.get(column, set())):
            yield Edge(f"{source_table}.{source_column}", node, producer.pipeline, step.name, masked)

    def _column_targets(self, node: str) -> Iterable[Edge]:
        table, column = node.rsplit(".", 1)
        for consumer in self.consumers.get(table, []):
            step = consumer.step
            if isinstance(step.config, LoadStep):
                yield Edge(node, f"{_target_node(step.config)}#{column}", consumer.pipeline, step.name)
                continue
            if not isinstance(step.config, (TransformStep, PythonStep)) or not step.output:
                continue
            masks = self._masked(step)
            for output, used in sorted((self._sources(step) or {}).items()):
                if (table, column) in used:
                    yield Edge(node, f"{step.output}.{output}", consumer.pipeline, step.name, masks.get(output))

    # -- helpers ---------------------------------------------------------------------------------

    def _known(self, table: str) -> None:
        if table not in self.producers and table not in self.consumers:
            raise NotFound(f"no pipeline step reads or writes table `{table}`",
                           hint="list the tables with `flowdeck pipelines --json`")

    def _sources(self, step: PlannedStep) -> dict[str, set[tuple[str, str]]] | None:
        if isinstance(step.config, PythonStep):  # a function's lineage is what its step declares
            return step.config.column_sources() if step.config.lineage else None
        if step.query is None:
            return None
        from flowdeck.engine.sql.lineage import column_sources

        schema = {table: self.schemas[table] for table in step.query.tables if table in self.schemas}
        return column_sources(step.query.tree, schema)

    def _masked(self, step: PlannedStep) -> dict[str, str]:
        """Output column -> ``hash`` / ``redact (follows email)`` for a step with a masking policy."""
        policy = getattr(step.config, "mask", None) or {}
        if not policy or step.output is None:
            return {}
        from flowdeck.engine.sql.column_masking import MaskedColumn, masked_columns

        outputs = self.schemas.get(step.output) or list(policy)
        try:
            chosen: list[MaskedColumn] = masked_columns(policy, outputs, self._sources(step))
        except ValueError:
            chosen = [MaskedColumn(column, method) for column, method in policy.items()]
        return {item.column.lower(): item.method + (f" (follows {item.follows})" if item.follows else "")
                for item in chosen}

    def _mask_text(self, step: PlannedStep) -> str | None:
        masks = self._masked(step)
        return ", ".join(f"{column}: {method}" for column, method in masks.items()) or None

    def _inputs_read(self, table: str, step: PlannedStep) -> list[tuple[str, str | None]]:
        """The nodes an extract read: ``file:PATH`` (as recorded, else as configured) or ``db:CONNECTION:TABLE``."""
        assert isinstance(step.config, ExtractStep)
        if isinstance(step.config.source, DatabaseSource):
            return [(f"db:{step.config.source.label}", None)]
        recorded = self.ledger.lineage_into(table) if self.ledger is not None else []
        files = [(record.input, record.input_checksum) for record in recorded if record.input_kind == "file"]
        if files:
            return [(f"file:{self._relative(path)}", checksum) for path, checksum in files]
        return [(f"file:{step.config.source.path}", None)]

    def _relative(self, path: str) -> str:
        try:
            return str(Path(path).relative_to(self.project.root))
        except ValueError:
            return path

    @staticmethod
    def _walk(start: str, neighbours: Any) -> Iterable[Edge]:
        seen = {start}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for edge in neighbours(node):
                yield edge
                following = edge.source if edge.target == node else edge.target
                if following not in seen:
                    seen.add(following)
                    queue.append(following)


def _target_node(config: LoadStep) -> str:
    """What a load step writes, as a lineage node: ``file:PATH`` or ``db:CONNECTION:TABLE``."""
    if isinstance(config.to, DatabaseTarget):
        return f"db:{config.to.label}"
    return f"file:{config.to.path}"


def lineage_report(project: Project, ledger: Ledger, target: str, schemas: dict[str, list[str]]) -> LineageReport:
    """Upstream and downstream of ``TABLE`` or ``TABLE.COLUMN``, given the warehouse's column names."""
    table, _, column = target.lower().partition(".")
    catalog = ProjectLineage(project, ledger, schemas)
    return catalog.column_report(table, column) if column else catalog.table_report(table)
