"""Starting a worker process that executes a queued run outside this one (``python -m flowdeck.engine.run.worker``)."""

from __future__ import annotations

import os
import subprocess
import sys

from flowdeck.engine.project.project import Project


def spawn_worker(project: Project, run_id: str, *, claimed_by_parent: bool = False,
                 log_format: str | None = None) -> subprocess.Popen[bytes]:
    """Start a worker process for a queued run, logging to ``logs/worker-<run>.log``.

    With ``claimed_by_parent`` the worker waits for one line on its stdin, then executes the
    run only if the ledger says it was claimed for the worker's pid, and dies with its parent.
    The master key, when this process has it in its environment, is withheld from the worker's
    environment and written first on its stdin.
    ``log_format`` (text, json) overrides ``logging.format`` (the daemon's ``--log-format``).
    """
    from flowdeck.engine.secrets.store import withheld_master_key

    project.ensure_runtime_dirs()
    log_path = project.logs_dir / f"worker-{run_id}.log"
    command = [sys.executable, "-m", "flowdeck.engine.run.worker", "--project", str(project.root), run_id]
    if claimed_by_parent:
        command[3:3] = ["--claimed-by-parent", str(os.getpid())]
    environment, key = withheld_master_key()  # the run's SQL must not find the master key in its environment
    if key:
        command[3:3] = ["--master-key-on-stdin"]
    if log_format is not None:
        command[3:3] = ["--log-format", log_format]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if claimed_by_parent or key else subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a closed terminal or SSH session must not stop it
            cwd=project.root,
            env=environment,
        )
    if key:
        assert process.stdin is not None
        process.stdin.write(key.encode() + b"\n")
        process.stdin.flush()
        if not claimed_by_parent:
            process.stdin.close()
    return process


def launch_detached(project: Project, run_id: str) -> int:
    """Start a worker process for a queued run that outlives this one; return its pid."""
    return spawn_worker(project, run_id).pid
