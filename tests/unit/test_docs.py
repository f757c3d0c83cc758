"""The documentation says what the code does: generated reference, documented JSON, README commands."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT, copy_example_project

DOCS = REPO_ROOT / "docs"


def test_configuration_reference_matches_the_models() -> None:
    sys.path.insert(0, str(DOCS))
    try:
        import gen_config_reference
    finally:
        sys.path.remove(str(DOCS))
    assert (DOCS / "configuration.md").read_text(encoding="utf-8") == gen_config_reference.generate(), (
        "docs/configuration.md is out of date: run python docs/gen_config_reference.py"
    )


def test_configuration_reference_describes_every_key() -> None:
    rows = [line for line in (DOCS / "configuration.md").read_text().splitlines() if line.startswith("| `")]
    descriptions = [re.split(r"(?<!\\)\|", line)[4].strip() for line in rows]  # | key | type | default | description |
    assert rows and all(descriptions), "a config field has no description"


def _config_sections() -> list[tuple[str, Any]]:
    sys.path.insert(0, str(DOCS))
    try:
        import gen_config_reference
    finally:
        sys.path.remove(str(DOCS))
    return gen_config_reference.sections()


def test_every_key_of_the_configuration_has_an_example() -> None:
    missing = [f"{model.__name__}.{name}" for _, model in _config_sections()
               for name, field in model.model_fields.items() if not field.examples]
    assert not missing, f"fields without examples=[...] in engine/project/config/: {missing}"
    rows = [line for line in (DOCS / "configuration.md").read_text().splitlines() if line.startswith("| `")]
    assert rows and all(line.rstrip().endswith("` |") for line in rows), "a row of the reference shows no example"


def _validates(model: Any, data: dict[str, Any]) -> str | None:
    from pydantic import ValidationError

    try:
        model.model_validate(data)
    except ValidationError as error:
        return str(error)
    return None


def test_every_example_is_valid_where_it_is_written() -> None:
    """Each key's example validates in its model: beside the model's own example (the keys it goes with),
    or beside the examples of the model's required keys only."""
    problems = []
    for _, model in _config_sections():
        context = ((model.model_config.get("json_schema_extra") or {}).get("examples") or [None])[0]
        if context is not None and (error := _validates(model, context)):
            problems.append(f"{model.__name__} example: {error}")
        required = {field.alias or name: field.examples[0] for name, field in model.model_fields.items()
                    if field.is_required()}
        for name, field in model.model_fields.items():
            key = field.alias or name
            bases = [base for base in (context, required) if base is not None]
            errors = [_validates(model, {**base, key: field.examples[0]}) for base in bases]
            if all(errors):
                problems.append(f"{model.__name__}.{name} = {field.examples[0]!r}: {errors[-1]}")
    assert not problems, "\n".join(problems)


def test_the_examples_of_each_file_together_make_a_valid_file(tmp_path: Path) -> None:
    from flowdeck.engine.project.config.pipeline import PipelineConfig
    from flowdeck.engine.project.config.project import ProjectConfig
    from flowdeck.engine.project.project import Project

    for model in (ProjectConfig, PipelineConfig):
        whole = {field.alias or name: field.examples[0] for name, field in model.model_fields.items()}
        assert _validates(model, whole) is None, model.__name__
    # and through the real loader, as YAML files of a project
    import yaml

    project = {name: field.examples[0] for name, field in ProjectConfig.model_fields.items()
               if name not in ("runtime_dir", "pipelines_dir")}
    (tmp_path / "flowdeck.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    pipeline = {name: field.examples[0] for name, field in PipelineConfig.model_fields.items()}
    (tmp_path / "pipelines" / "example").mkdir(parents=True)
    (tmp_path / "pipelines" / "example" / "pipeline.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    loaded = Project.load(tmp_path)
    assert loaded.config.alerts.routes[0].channels == ["ops_email", "console"]
    assert loaded.pipeline("example").config.schedule is not None


def test_cli_page_has_a_section_and_an_example_for_every_command() -> None:
    from flowdeck.console.cli.main import app

    text = (DOCS / "cli.md").read_text()
    commands = [info.name or info.callback.__name__ for info in app.registered_commands]
    assert len(commands) >= 12
    for command in commands:
        section = re.search(rf"### `flowdeck {command}\b.*?(?=\n### |\n## |\Z)", text, re.S)
        assert section, f"docs/cli.md has no section for `{command}`"
        assert "```" in section.group(0) or command == "console", f"no example for `{command}`"


def test_every_json_field_is_documented(tmp_path: Path) -> None:
    from flowdeck.engine.workspace import Workspace
    from flowdeck.engine.plan.describe import describe_pipeline

    workspace = Workspace.open(copy_example_project(tmp_path / "p"))
    record, _ = workspace.submit("daily_sales")
    workspace.execute(record.run_id)
    ledger = workspace.ledger
    produced = {
        "run": set(ledger.get_run(record.run_id).to_json()),
        "step": set(ledger.steps_of(record.run_id)[0].to_json()),
        "check": set(ledger.checks_of(record.run_id)[0].to_json()),
        "event": set(ledger.events(run_id=record.run_id)[0].to_json()),
        "pipeline": set(describe_pipeline(workspace.project.pipeline("daily_sales"))) | {"error"},
    }
    nested = set(describe_pipeline(workspace.project.pipeline("daily_sales"))["steps"][0])
    nested |= {"cron", "interval_seconds", "timezone", "folder", "patterns", "settle_seconds", "pipelines",
               "waiting_for"}
    workspace.close()
    text = (DOCS / "cli.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", text, re.M))
    for kind, fields in produced.items():
        assert fields <= documented, f"{kind} fields not in docs/cli.md: {sorted(fields - documented)}"
    for field in nested:
        assert f'"{field}"' in text, f"nested field {field} not in docs/cli.md"


def test_readme_commands_are_the_makefile_targets_and_ci_runs_the_second() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    first, second = re.findall(r"^(make \w+)", readme, re.M)[:2]
    assert (first, second) == ("make demo", "make test")
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^demo: .*\n(\t.*\n)*\t@?\$\(BIN\)/flowdeck run daily_sales", makefile, re.M)
    assert re.search(r"^test: ", makefile, re.M)
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_make_demo_installs_flowdeck_without_the_test_tools_or_spark() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    demo = re.search(r"^demo: (.*)$", makefile, re.M)
    assert demo is not None and demo.group(1).split() == ["$(BASE)"]
    base = re.search(r"^\$\(BASE\): .*\n((?:\t.*\n)+)", makefile, re.M)
    assert base is not None
    installs = [line for line in base.group(1).splitlines() if "$(EDITABLE)" in line]
    assert installs and all("$(EDITABLE) . " in line for line in installs), installs  # `.`, no [extras]
