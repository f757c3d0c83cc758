"""Helpers of the security tests: the CLI in a subprocess, writing files, scanning files for leaked bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SUPPORT = Path(__file__).resolve().parent
MASTER_KEY = "test-master-key-7f3a9c1e5b2d8f40"


def cli(project: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None,
        check: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run the flowdeck CLI in a subprocess on ``project``; assert its exit code when ``check`` is given."""
    environment = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{SUPPORT}", "NO_COLOR": "1", "COLUMNS": "200",
                   **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), *args],
        input=input if input is not None else "", capture_output=True, text=True, env=environment, timeout=120,
    )
    if check is not None:
        assert result.returncode == check, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def write(path: Path, text: str) -> Path:
    """Write ``text`` (dedented by the caller) to ``path``, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def files_containing(root: Path, needles: list[bytes]) -> list[str]:
    """Every file under ``root`` whose bytes contain one of ``needles`` (for leak scans)."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                if needle in data:
                    found.append(f"{path.relative_to(root)} contains {needle!r}")
    return found
