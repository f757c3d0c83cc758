"""The documentation says what the code does: generated reference, documented JSON, README commands."""

from __future__ import annotations

import re
import sys
from pathlib import Path

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
    assert rows and all(not line.rstrip().endswith("|  |") for line in rows), "a config field has no description"


def test_cli_page_has_a_section_and_an_example_for_every_command() -> None:
    from console.cli.main import app

    text = (DOCS / "cli.md").read_text()
    commands = [info.name or info.callback.__name__ for info in app.registered_commands]
    assert len(commands) >= 12
    for command in commands:
        section = re.search(rf"### `flowdeck {command}\b.*?(?=\n### |\n## |\Z)", text, re.S)
        assert section, f"docs/cli.md has no section for `{command}`"
        assert "```" in section.group(0) or command == "console", f"no example for `{command}`"


def test_every_json_field_is_documented(tmp_path: Path) -> None:
    from engine.client import Workspace
    from engine.pipelines import describe_pipeline

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
    nested |= {"cron", "interval_seconds", "timezone", "folder", "patterns", "settle_seconds"}
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
    assert re.search(r"^demo: .*\n(\t.*\n)*\t\$\(BIN\)/flowdeck run daily_sales", makefile, re.M)
    assert re.search(r"^test: ", makefile, re.M)
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
