"""flowdeck never goes through a symbolic link where an environment's files live: `env drop NAME` never deletes
through one (an environment's folder, the envs folder above it, or a file in it that is a link is refused in
words, exit 2, no traceback), and `run --env`, `env diff` and `env list` never write or read an environment's
warehouse through one; what the link points at (outside the project) is left as it was. The attacker here
can write in .flowdeck/ and plants links there; the operator then works with the environment."""

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


def test_a_run_in_an_environment_whose_folder_is_a_link_out_of_the_project_is_refused(project: Path,
                                                                                   tmp_path: Path) -> None:
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    target = victim(tmp_path)
    envs = project / ".flowdeck" / "envs"
    envs.mkdir()
    (envs / "dev").symlink_to(target)
    for command in (("run", "daily_sales", "--env", "dev", "--force"), ("env", "diff", "dev")):
        result = run_flowdeck(*command, project=project)
        assert result.returncode != 0, (command, result)
        assert "Traceback" not in result.stdout + result.stderr
        assert f"environment `dev`'s warehouse was not opened: {envs / 'dev'} is a symbolic link" in result.stderr
        assert "never reads or writes an environment through a link" in result.stderr
    assert sorted(os.listdir(target)) == ["warehouse.duckdb"]  # nothing made or changed where the link points
    assert (target / "warehouse.duckdb").read_text() == "not yours to delete\n"
    listing = run_flowdeck("env", "list", project=project)
    assert listing.returncode == 0 and "Traceback" not in listing.stdout + listing.stderr
    assert "symbolic link" in listing.stdout + listing.stderr  # said, not read through

    (envs / "dev").unlink()  # the operator removes the link, as the hint says: dev is built anew, in a plain folder
    assert run_flowdeck("run", "daily_sales", "--env", "dev", project=project).returncode == 0
    assert (envs / "dev").is_dir() and not (envs / "dev").is_symlink()
