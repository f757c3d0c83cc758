"""Roles: viewers read, operators run, admins edit; the engine refuses with the role needed (exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from security_helpers import MASTER_KEY, cli, write

from flowdeck.engine.workspace import Workspace
from flowdeck.engine.errors import EXIT_FORBIDDEN, Forbidden
from flowdeck.engine.governance.roles import Identity

ME = Identity.current()


def set_roles(project: Path, text: str) -> None:
    write(project / "flowdeck.yaml", (project / "flowdeck.yaml").read_text() + "\n" + text)


def test_without_roles_everyone_is_admin(project: Path) -> None:
    whoami = json.loads(cli(project, "whoami", "--json", check=0).stdout)
    assert whoami["user"] == ME.user and whoami["role"] == "admin"
    assert {"run", "edit", "secrets", "prune"} <= set(whoami["allowed"])


def test_a_viewer_cannot_run_and_is_told_the_role_needed(project: Path) -> None:
    set_roles(project, f"roles:\n  viewers: [{ME.user}]\n  admins: [someone-else]\n")
    refused = cli(project, "run", "daily_sales", check=EXIT_FORBIDDEN)
    assert f"{ME.user} is a viewer" in refused.stderr
    assert "running pipelines (daily_sales) needs the operator role" in refused.stderr
    assert "roles.operators" in refused.stderr
    assert json.loads(cli(project, "runs", "--json", check=0).stdout) == []  # nothing was queued
    cancel = cli(project, "cancel", "last", check=EXIT_FORBIDDEN)
    assert "needs the operator role" in cancel.stderr


def test_a_viewer_cannot_edit_or_change_secrets(project: Path) -> None:
    set_roles(project, "roles:\n  admins: [someone-else]\n  default: viewer\n")
    refused = cli(project, "secrets", "set", "PG_PASSWORD", input="x" * 12, env={"FLOWDECK_MASTER_KEY": MASTER_KEY},
                  check=EXIT_FORBIDDEN)
    assert "changing secrets (PG_PASSWORD) needs the admin role" in refused.stderr
    workspace = Workspace.open(project)
    pipeline = "pipelines/daily_sales/pipeline.yaml"
    before = (project / pipeline).read_text()
    with pytest.raises(Forbidden, match="editing pipelines and configuration .* needs the admin role") as raised:
        workspace.write_project_file(pipeline, "steps: []\n")
    assert raised.value.exit_code == EXIT_FORBIDDEN
    assert (project / pipeline).read_text() == before
    assert workspace.read_only and not workspace.can("run") and workspace.can("read")


def test_refusals_are_recorded_in_the_audit_log(project: Path) -> None:
    set_roles(project, f"roles:\n  viewers: [{ME.user}]\n  admins: [auditor]\n")
    cli(project, "run", "daily_sales", check=EXIT_FORBIDDEN)
    auditor = Workspace.open(project, identity=Identity("auditor"))
    entries = auditor.audit_entries()
    assert [(e.actor, e.action, e.target, e.outcome) for e in entries] == [(ME.user, "run", "daily_sales", "denied")]


def test_an_operator_runs_but_cannot_edit(project: Path) -> None:
    set_roles(project, "roles:\n  operators: ['@etl']\n  admins: [root-admin]\n")
    operator = Workspace.open(project, identity=Identity("bob", frozenset({"etl"})))
    assert operator.role == "operator"
    record, created = operator.submit("daily_sales")
    assert created and operator.execute(record.run_id) == "succeeded"
    with pytest.raises(Forbidden, match="needs the admin role"):
        operator.write_project_file("pipelines/daily_sales/extra.sql", "SELECT 1\n")
    outsider = Workspace.open(project, identity=Identity("carol", frozenset({"staff"})))
    assert outsider.role == "viewer"  # listed nowhere: the default


def test_an_admin_edit_is_written_atomically_and_audited(project: Path) -> None:
    workspace = Workspace.open(project)
    path = workspace.write_project_file("pipelines/daily_sales/note.sql", "SELECT 42 AS answer\n")
    assert path.read_text() == "SELECT 42 AS answer\n"
    entry = workspace.audit_entries(action="edit")[0]
    assert (entry.actor, entry.source, entry.target, entry.outcome) == (ME.user, "cli", "pipelines/daily_sales/note.sql", "ok")
    with pytest.raises(Forbidden, match="not a file of the project"):
        workspace.write_project_file("../outside.txt", "x")
