"""The benchmark harness itself runs: its project must stay a valid flowdeck project as flowdeck changes.

The figures are measured by `make bench`, never here; this only proves that the harness's pipeline
runs through the real CLI on a small workload and agrees with the hand-written SQL. (The trust
boundaries of issue 15 once made the bench pipeline's transform refuse to read its own input, and
no test noticed until the benchmark was rerun.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("warm", [False, pytest.param(True, marks=pytest.mark.xdist_group("warm-server"))],
                         ids=["own process", "warm server"])  # the group: see tests/cli/test_warm_start.py
def test_the_pipeline_benchmark_runs_and_both_sides_agree_on_a_small_workload(tmp_path: Path, warm: bool) -> None:
    bench = tmp_path / "bench"
    shutil.copytree(REPO_ROOT / "bench", bench, ignore=shutil.ignore_patterns("workload", ".flowdeck", "__pycache__"))
    result = subprocess.run(
        [sys.executable, str(bench / "run.py"), "--only", "pipeline", "--rows", "20000", "--rounds", "1",
         "--quiet-wait", "0", "--json", str(tmp_path / "figures.json"), *(["--warm"] if warm else [])],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "outputs identical" in result.stdout, result.stdout
    assert "failed" not in result.stderr, result.stderr
    exported = bench / "workload" / "flowdeck_daily_revenue.parquet"
    assert exported.is_file(), "the flowdeck side did not write its export where the harness compares it"
    figures = json.loads((tmp_path / "figures.json").read_text())["pipeline"]
    if warm:  # the untimed run and the round's (redone when the machine was busy) went through the server
        assert figures["warm_commands_served"] >= 2, figures
    # through the server the run is its fork's: its CPU is counted (bench/warm.py), not left to "others"
    assert figures["flowdeck"]["cpu_median"] > 0.2, figures
