"""A full disk is said in words, naming the folder and the space needed: no traceback from any command
that opens the ledger, a run that fails for want of space keeps that cause, and doctor checks free space.

The project lives on a small tmpfs of its own (mounting needs root, as in CI), filled with a file.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import copy_example_project, ledger_rows, run_flowdeck
from tests.docs.test_troubleshooting import assert_quoted

DISK_BYTES = 48 * 1024 * 1024  # room for the project, the ledger's space reserve and flowdeck's 32 MB minimum


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of ``DISK_BYTES`` mounted for this test only."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root with CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(disk: Path, leave: int = 0) -> Path:
    """Take every byte of ``disk`` but ``leave`` with one file; return it (remove it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        if free > leave:
            os.posix_fallocate(handle.fileno(), 0, free - leave)
        if not leave:
            try:  # whatever the allocation left over, a page at a time
                while True:
                    handle.write(b"\0" * 4096)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    return filler


@pytest.fixture
def ran_on_small_disk(small_disk: Path) -> Path:
    project = copy_example_project(small_disk / "project")
    result = run_flowdeck("run", "daily_sales", project=project)
    assert result.returncode == 0, result
    (project / "first-run-id").write_text(re.search(r"run (\S+) of daily_sales", result.stdout)[1])
    return project


def _says_disk_full(output: str, project: Path) -> None:
    assert "Traceback" not in output, output
    assert f"the disk holding {project / '.flowdeck'} is full" in output, output
    assert "free at least 32 MB on that disk" in output, output


@pytest.mark.parametrize("command", [("runs",), ("status",), ("stats",), ("show", "--json", "latest"),
                                     ("run", "daily_sales"), ("logs", "latest"), ("audit", "verify")])
def test_every_command_that_opens_the_ledger_says_the_disk_is_full(ran_on_small_disk: Path,
                                                                     command: tuple[str, ...]) -> None:
    project = ran_on_small_disk
    latest = (project / "first-run-id").read_text()  # not read from the ledger: that would leave it open-able
    (project / ".flowdeck" / "space.reserve").unlink(missing_ok=True)  # the worst case: nothing left to give back
    _fill(project.parent)
    result = run_flowdeck(*(part if part != "latest" else latest for part in command), project=project)
    assert result.returncode == 2, result
    _says_disk_full(result.stderr, project)
    assert_quoted(result.stderr)  # docs/troubleshooting.md quotes it


def _latest(project: Path) -> str:
    return ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0]["run_id"]


def test_a_run_the_full_disk_stops_keeps_that_cause(ran_on_small_disk: Path) -> None:
    project = ran_on_small_disk
    assert (project / ".flowdeck" / "space.reserve").stat().st_blocks * 512 >= 2 * 1024 * 1024  # really taken
    filler = _fill(project.parent, leave=200 * 1024)  # the ledger opens; the run's records do not fit
    result = run_flowdeck("run", "daily_sales", project=project)
    assert result.returncode == 1, result
    _says_disk_full(result.output, project)
    filler.unlink()
    latest = _latest(project)
    shown = run_flowdeck("show", latest, "--json", project=project)
    assert shown.returncode == 0, shown
    run = shown.json()
    assert run["status"] == "failed", run  # never "abandoned" with the cause lost
    assert f"the disk holding {project / '.flowdeck'} is full" in run["error"], run
    later = run_flowdeck("run", "daily_sales", project=project)  # space again: the reserve is taken back
    assert later.returncode == 0, later
    assert (project / ".flowdeck" / "space.reserve").exists()


def test_doctor_checks_free_space(ran_on_small_disk: Path) -> None:
    project = ran_on_small_disk
    fine = run_flowdeck("doctor", project=project)
    assert f"{project / '.flowdeck'} writable, " in fine.stdout and " MB free" in fine.stdout, fine
    _fill(project.parent)
    result = run_flowdeck("doctor", project=project)
    assert result.returncode == 1, result
    assert "Traceback" not in result.output
    runtime = next(line for line in result.stdout.splitlines() if "path runtime" in line)
    assert "fail" in runtime and "only 0 bytes free; flowdeck needs at least 32 MB there" in runtime, result
    ledger = result.stdout[result.stdout.index(" ledger "):]
    assert "is full" in ledger and "do not restore it" in ledger and "restore ledger.sqlite" not in ledger, result
