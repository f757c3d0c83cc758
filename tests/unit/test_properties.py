"""Property-based tests (hypothesis): no text, bytes or structure makes the configuration loader or the
parsing of run parameters crash or hang. Each either accepts its input or refuses it with a
``FlowdeckError``, within a few seconds; every accepted parameter binds to valid SQL (that a bound
value reads back as given is tests/unit/test_render.py's)."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flowdeck.console.cli.commands_runs import parse_params
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.project.config.pipeline import ParamSpec, PipelineConfig
from flowdeck.engine.project.config.project import ProjectConfig
from flowdeck.engine.project.config.steps import STEP_KINDS
from flowdeck.engine.project.project import refuse_literal_credentials
from flowdeck.engine.project.validation import validate_document
from flowdeck.engine.project.yamlfile import load_yaml, parse_yaml
from flowdeck.engine.secrets.literals import literal_param_problem
from flowdeck.engine.sql.params import bind_path, coerce_params
from flowdeck.engine.sql.render import literal

PROPERTY = settings(max_examples=150, deadline=timedelta(seconds=10), database=None,
                    suppress_health_check=[HealthCheck.too_slow])
MODELS = (ProjectConfig, PipelineConfig)
KEYS = st.sampled_from([*ProjectConfig.model_fields, *PipelineConfig.model_fields, "name", "kind", "sql", "source",
                        "path", "output", "checks", "params", "type", "default", "cron", "interval", "password",
                        "token", "mask", "connection", "to", "format"]) | st.text(max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=40) | st.sampled_from([*STEP_KINDS, "${secret:PG}", "${secrte:PG}", "1d", "*/5 * * * *",
                                                     "postgresql://u:p@h/db", "data/x.csv"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
                      max_leaves=40)


def _load(text: str, model: type) -> None:
    """What loading flowdeck.yaml or a pipeline.yaml does with a text: parse, validate, look for credentials."""
    try:
        document = parse_yaml(text, Path("config.yaml"))
        validate_document(document, model)
        refuse_literal_credentials(document)
    except FlowdeckError:
        pass


@PROPERTY
@given(text=st.text(max_size=3000), model=st.sampled_from(MODELS))
@example(text="\x08", model=ProjectConfig)  # found by this test: a control character escaped as ReaderError
@example(text="!0", model=ProjectConfig)  # found by this test: an unknown tag escaped as ConstructorError
def test_any_text_is_loaded_or_refused(text: str, model: type) -> None:
    _load(text, model)


@PROPERTY
@given(data=st.dictionaries(KEYS, VALUES, max_size=8), model=st.sampled_from(MODELS))
def test_any_structure_is_loaded_or_refused(data: dict[str, Any], model: type) -> None:
    _load(yaml.safe_dump(data, allow_unicode=True), model)


@PROPERTY
@given(steps=st.lists(st.fixed_dictionaries({"name": st.text(max_size=10), "kind": st.sampled_from(STEP_KINDS)},
                                            optional={"sql": SCALARS, "source": VALUES, "to": VALUES,
                                                      "checks": VALUES, "depends_on": VALUES, "mask": VALUES,
                                                      "output": SCALARS, "retries": VALUES}), max_size=5),
       extra=st.dictionaries(KEYS, VALUES, max_size=3))
def test_any_pipeline_of_steps_is_loaded_or_refused(steps: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    _load(yaml.safe_dump({"steps": steps, **extra}, allow_unicode=True), PipelineConfig)


@PROPERTY
@given(width=st.integers(1, 12), depth=st.integers(1, 12), recursive=st.booleans())
def test_aliases_never_make_the_loader_hang(width: int, depth: int, recursive: bool) -> None:
    lines = ["l0: &l0 [" + ", ".join(["x"] * width) + "]"]
    for level in range(1, depth + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    if recursive:
        lines.append("loop: &loop [*loop]")
    _load("\n".join(lines) + "\n", PipelineConfig)


@PROPERTY
@given(content=st.binary(max_size=2000))
@example(content=b"=")  # found by this test: YAML's `=` value tag has no constructor
@example(content=b"steps: [caf\xe9]")
def test_any_bytes_in_a_file_are_loaded_or_refused(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pipeline.yaml"
        path.write_bytes(content)
        try:
            validate_document(load_yaml(path), PipelineConfig)
        except FlowdeckError:
            pass


# -- run parameters ------------------------------------------------------------------------------------------


@PROPERTY
@given(pairs=st.lists(st.text(max_size=60), max_size=6))
def test_any_param_flags_are_parsed_or_refused(pairs: list[str]) -> None:
    try:
        parsed = parse_params(pairs)
    except FlowdeckError:
        return
    for name, value in parsed.items():
        assert name and name == name.strip()
        literal_param_problem(name, value)  # never raises: a problem is a sentence or None


@PROPERTY
@given(kind=st.sampled_from(["string", "integer", "number", "boolean", "date", "timestamp"]),
       raw=st.text(max_size=40), required=st.booleans())
@example(kind="number", raw="INFINITY", required=False)  # found by this test: bound as `inf`, not SQL
@example(kind="number", raw="nan", required=True)
def test_any_value_of_any_type_is_coerced_or_refused(kind: str, raw: str, required: bool) -> None:
    specs = {"p": ParamSpec(type=kind, required=required)}
    try:
        values = coerce_params(specs, {"p": raw}, "pipe")
    except FlowdeckError:
        return
    duckdb.sql(f"SELECT {literal(values['p'])} AS p").fetchall()  # every accepted value binds to valid SQL


@PROPERTY
@given(template=st.text(max_size=60), values=st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=4))
def test_any_path_template_binds_without_crashing(template: str, values: dict[str, str]) -> None:
    assert isinstance(bind_path(template, values), str)

