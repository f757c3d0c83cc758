"""Fingerprints of steps: a sha256 over everything that determines a step's output.

A step's fingerprint is made of six components, each hashed on its own so that a plan can say
which one changed (docs/plans.md has the rules):

- ``sql``: the step's query and its checks' queries in canonical form (whitespace, comments
  and letter case do not count), or a Python step's module file;
- ``config``: the validated step model as canonical JSON, without what does not change the
  output (description, retries, versions kept, always_run);
- ``upstream``: the data each table it reads holds now (the content checksum of its current
  version; a view: that version's fingerprint), so a change upstream propagates;
- ``files``: the sha256 of every file it reads (extract sources, files its SQL reads), cached
  in the ledger by (path, size, modification time) so an unchanged file is not read again;
- ``params``: the values of the parameters it uses (hashed: a value is never stored);
- ``engine``: the engine and its version, with this module's format version.

What makes a step never skippable (``volatile``): calls such as ``now()`` or ``random()``,
URLs, files named by an expression, databases read, freshness checks, plugins' step kinds.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from flowdeck.engine.plan.planner import Plan, PlannedStep
from flowdeck.engine.project.checksums import checksum_of, files_matching, sha256_of
from flowdeck.engine.project.config.steps import (
    CheckStep,
    DatabaseSource,
    ExtractStep,
    FileSource,
    FileTarget,
    LoadStep,
    PythonStep,
    TransformStep,
)
from flowdeck.engine.project.functions import module_file
from flowdeck.engine.project.project import Project
from flowdeck.engine.project.validation import without_pydantic_plugins
from flowdeck.engine.sql.params import bind_path, path_params
from flowdeck.state import Ledger
from flowdeck.state.records import CommitRecord, StepVersion

FORMAT = 1
COMPONENTS = ("sql", "config", "upstream", "files", "params", "engine")
# step settings that change how a step is run or shown, never what it writes
METADATA_FIELDS = frozenset({"description", "retries", "versions", "always_run"})
BUILT_IN_KINDS = (ExtractStep, TransformStep, CheckStep, LoadStep, PythonStep)


@dataclass(frozen=True)
class StepParts:
    """What a step's fingerprint is made of, except the data of the tables it reads (known once its
    upstream steps have run)."""

    sql: str | None
    config: str
    files: dict[str, str]  # path -> sha256 ("missing" when a path names no file)
    params: dict[str, str]  # name -> sha256 of its value
    engine: str
    reads: tuple[str, ...]
    volatile: tuple[str, ...]  # why the step is never skipped (empty: it is deterministic)


def _hash(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=4)
def engine_label(engine: str) -> str:
    """The engine and its version (``duckdb 1.4.1``), with the fingerprint format."""
    package = {"duckdb": "duckdb", "spark": "pyspark"}.get(engine, engine)
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return f"{engine} {version} (fingerprint format {FORMAT})"


def step_parts(project: Project, ledger: Ledger, plan: Plan, step: PlannedStep, params: Mapping[str, Any],
               engine: str) -> StepParts:
    """The static parts of ``step``'s fingerprint, with ``params`` the run's checked parameter values."""
    config = step.config
    volatile: list[str] = []
    files: dict[str, str] = {}
    used: set[str] = set()
    sql_parts: list[str] = []
    root = project.root

    def read_path(pattern: str) -> None:
        if "://" in pattern:
            volatile.append(f"reads URL {pattern}")
            return
        found = files_matching(project.resolve_path(pattern))
        if not found:
            files[pattern] = "missing"
        for path in found:
            try:
                checked = checksum_of(path, root, ledger)
                files[checked.path] = checked.sha256
            except OSError:
                files[str(path)] = "unreadable"

    def query_facts(facts: Mapping[str, Any]) -> None:
        sql_parts.append(str(facts["canonical"]))
        volatile.extend(f"{call}" for call in facts["volatile"])
        for read in facts["files"]:
            if "path" in read:
                read_path(str(read["path"]))
            elif "param" in read and read["param"] in params and isinstance(params[read["param"]], str):
                used.add(str(read["param"]))
                read_path(str(params[read["param"]]))
            else:
                volatile.append(f"reads files named by {read.get('expr') or '$' + str(read.get('param'))}")

    if isinstance(config, ExtractStep):
        if isinstance(config.source, DatabaseSource):
            volatile.append(f"reads database connection `{config.source.connection}`")
        elif isinstance(config.source, FileSource):
            used.update(path_params(config.source.path))
            read_path(bind_path(config.source.path, params))
    elif isinstance(config, TransformStep):
        assert step.query is not None
        query_facts(step.query.facts)
        used.update(use.name for use in step.param_uses)
    elif isinstance(config, LoadStep):
        if isinstance(config.to, FileTarget):
            used.update(path_params(config.to.path))
    elif isinstance(config, PythonStep):
        module = config.function.partition(":")[0]
        sql_parts.append(f"python {config.function} {_module_checksum(plan.source.folder, module)}")
        used.update(plan.source.config.params)  # the function may be given every parameter
    elif not isinstance(config, CheckStep):  # a plugin's kind: what it reads is its own business
        volatile.append(f"step kind `{step.kind}` (a plugin) is not fingerprinted")
    for check in step.checks:
        if check.spec.freshness is not None:
            volatile.append(f"freshness check `{check.name}`")
        if check.query is not None:
            query_facts(check.query.facts)
            used.update(use.name for use in check.param_uses)
    dumped = _config_dump(plan, config)
    return StepParts(
        sql="\n;\n".join(sql_parts) if sql_parts else None,
        config=json.dumps(dumped, sort_keys=True, separators=(",", ":")),
        files=dict(sorted(files.items())),
        params={name: _hash(params.get(name)) for name in sorted(used)},
        engine=engine_label(engine),
        reads=tuple(sorted(step.reads)),
        volatile=tuple(dict.fromkeys(volatile)),
    )


def all_step_parts(project: Project, ledger: Ledger, plan: Plan, params: Mapping[str, Any],
                   engine: str) -> dict[str, StepParts]:
    """``step_parts`` of every step of ``plan``, in plan order (for ``changes.plan_changes``)."""
    return {name: step_parts(project, ledger, plan, plan.steps[name], params, engine) for name in plan.order}


def _config_dump(plan: Plan, config: Any) -> Any:
    """The step's validated model as JSON data, without the metadata fields and the values left at their defaults.

    Dumped through the pipeline's model, whose serializer was built when pipeline.yaml was validated: the step's
    own model would build a serializer of its own, one per step kind (~5 ms a run), for the same JSON
    (tests/unit/test_fingerprint_config.py). A plugin's step kind, or a model that is not one of the pipeline's
    own steps, is dumped by its own model.
    """
    steps = plan.source.config.steps
    index = next((i for i, candidate in enumerate(steps) if candidate is config), None)
    with without_pydantic_plugins():  # a first dump builds a serializer: without pydantic's plugin discovery
        if index is None or type(config) not in BUILT_IN_KINDS:
            return config.model_dump(mode="json", exclude=set(METADATA_FIELDS), exclude_defaults=True)
        dumped = plan.source.config.model_dump(mode="json", include={"steps": {index}},
                                               exclude={"steps": {index: set(METADATA_FIELDS)}}, exclude_defaults=True)
    return dumped["steps"][0]


def _module_checksum(folder: Path, module: str) -> str:
    """The sha256 of a Python step's module: the file beside pipeline.yaml, else the installed one."""
    path = module_file(folder, module)
    if not path.is_file():
        import importlib.util

        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin is None or not Path(spec.origin).is_file():
            return "missing"
        path = Path(spec.origin)
    return sha256_of(path)


def table_tokens(ledger: Ledger, tables: tuple[str, ...], warehouse_id: str | None) -> dict[str, str]:
    """What each table holds now: the content checksum of its current version (a view: that version's
    fingerprint), ``missing`` for a table never published."""
    return {table: token_of(ledger.current_output_commit(table, warehouse_id)) for table in tables}


def token_of(commit: CommitRecord | None) -> str:
    """What a table's current version holds, for the fingerprints of the steps reading it."""
    if commit is None:
        return "missing"
    if commit.checksum == "view":
        return f"view {commit.fingerprint or commit.data_run_id}"
    return commit.checksum


def version_of(pipeline: str, step: str, parts: StepParts, tokens: Mapping[str, str]) -> StepVersion:
    """The fingerprint of a step from its parts and the data of the tables it reads, with what it was made of."""
    upstream = dict(sorted(tokens.items()))
    components = {
        "sql": _hash(parts.sql or ""),
        "config": _hash(parts.config),
        "upstream": _hash(upstream),
        "files": _hash(parts.files),
        "params": _hash(parts.params),
        "engine": _hash(parts.engine),
    }
    fingerprint = _hash({"format": FORMAT, "components": components})
    detail = {"format": FORMAT, "components": components, "sql": parts.sql, "config": parts.config,
              "upstream": upstream, "files": parts.files, "params": parts.params, "engine": parts.engine}
    return StepVersion(fingerprint=fingerprint, pipeline=pipeline, step=step, detail=detail)
