"""`flowdeck env drop NAME` never deletes through a symbolic link: an environment's folder, the envs folder
above it, or a file in it (its warehouse) that is a link is refused in words, exit 2, no traceback, and
what the link points at (outside the project) is left as it was. The attacker here can write in
.flowdeck/ and plants links there; the operator then drops the environment."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import ledger_rows, run_flowdeck


def victim(root: Path) -> Path:
    """A folder outside the project with a file someone cares about."""
    folder = root / "outside" / "precious"
    folder.mkdir(parents=True)
    (folder / "warehouse.duckdb").write_text("not yours to delete\n")
    return folder


def refused(project: Path, link: Path) -> None:
    result = run_flowdeck("env", "drop", "dev", "--yes", project=project)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stdout + result.stderr and "OSError" not in result.stderr
    assert f"environment `dev` was not dropped: {link} is a symbolic link" in result.stderr
    assert "never deletes through a link" in result.stderr and f"rm {link}" in result.stderr
    assert link.is_symlink()  # the link itself is left for a person to judge


def test_an_environment_folder_that_is_a_link_out_of_the_project_is_refused(project: Path, tmp_path: Path) -> None:
    target = victim(tmp_path)
    envs = project / ".flowdeck" / "envs"
    envs.mkdir(parents=True)
    (envs / "dev").symlink_to(target)
    refused(project, envs / "dev")
    assert (target / "warehouse.duckdb").read_text() == "not yours to delete\n"
    audit = ledger_rows(project, "SELECT target, outcome FROM audit_log WHERE action = 'env.drop'")
    assert [(row["target"], row["outcome"]) for row in audit] == [("dev", "failed")]


def test_an_envs_folder_that_is_a_link_is_refused_and_nothing_under_its_target_goes(project: Path, tmp_path: Path) -> None:
    target = victim(tmp_path).parent
    (target / "dev").mkdir()
    (target / "dev" / "warehouse.duckdb").write_text("someone else's dev\n")
    (project / ".flowdeck").mkdir()
    (project / ".flowdeck" / "envs").symlink_to(target)
    refused(project, project / ".flowdeck" / "envs")
    assert (target / "dev" / "warehouse.duckdb").read_text() == "someone else's dev\n"


def test_a_warehouse_that_is_a_link_is_refused_and_its_target_kept(project: Path, tmp_path: Path) -> None:
    target = victim(tmp_path)
    folder = project / ".flowdeck" / "envs" / "dev"
    folder.mkdir(parents=True)
    (folder / "warehouse.duckdb").symlink_to(target / "warehouse.duckdb")
    (folder / "logs").mkdir()
    refused(project, folder / "warehouse.duckdb")
    assert folder.is_dir() and (target / "warehouse.duckdb").read_text() == "not yours to delete\n"


def test_a_link_deeper_in_the_folder_and_a_dangling_link_are_refused_too(project: Path, tmp_path: Path) -> None:
    target = victim(tmp_path)
    folder = project / ".flowdeck" / "envs" / "dev"
    (folder / "tmp" / "deep").mkdir(parents=True)
    (folder / "tmp" / "deep" / "x").symlink_to(target)
    refused(project, folder / "tmp" / "deep" / "x")
    assert sorted(os.listdir(target)) == ["warehouse.duckdb"]

    (folder / "tmp" / "deep" / "x").unlink()
    (folder / "tmp").rename(tmp_path / "moved")
    os.rmdir(folder)
    folder.symlink_to(tmp_path / "gone")  # dangling: refused as a link, not reported as "no environment"
    refused(project, folder)


def test_a_plain_environment_folder_is_still_dropped(project: Path) -> None:
    folder = project / ".flowdeck" / "envs" / "dev"
    (folder / "sub").mkdir(parents=True)
    (folder / "warehouse.duckdb").write_text("dev's own\n")
    result = run_flowdeck("env", "drop", "dev", "--yes", project=project)
    assert result.returncode == 0, result
    assert not folder.exists() and (project / ".flowdeck" / "envs").is_dir()
