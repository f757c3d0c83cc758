"""A warm server of the measured flowdeck, for the benchmarks' ``--warm`` (docs/operations.md, "Warm start").

The server runs in a runtime folder of its own (its own ``$XDG_RUNTIME_DIR``), so that a server of the person
measuring is never the one measured, and it is stopped at the end. A command it runs is a process it forked,
not a child of the harness: its CPU is not in the harness's ``RUSAGE_CHILDREN``; it is in the server's own
count of its waited-for children (``cutime`` and ``cstime`` in ``/proc/PID/stat``), which ``commands_cpu``
reads, so that each timed command's CPU is the client's and its fork's together.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType


class WarmServer:
    """``with WarmServer(flowdeck, env) as warm:`` run commands with ``warm.env``."""

    def __init__(self, flowdeck: Path, env: dict[str, str]) -> None:
        self.flowdeck = flowdeck
        self._runtime = Path(tempfile.mkdtemp(prefix="flowdeck-bench-warm-"))
        self.env = {**env, "XDG_RUNTIME_DIR": str(self._runtime), "FLOWDECK_WARM": "on"}
        self.pid = 0

    def __enter__(self) -> WarmServer:
        started = subprocess.run([str(self.flowdeck), "warm", "start"], env=self.env, capture_output=True, text=True)
        if started.returncode != 0:
            raise SystemExit(f"the warm server did not start:\n{started.stdout}{started.stderr}")
        self.pid = int(self.status()["pid"])
        return self

    def status(self) -> dict[str, object]:
        """`flowdeck warm status --json` (the server counts this command as one it forked)."""
        status = subprocess.run([str(self.flowdeck), "warm", "status", "--json"], env=self.env, capture_output=True,
                                text=True)
        if status.returncode != 0:
            raise SystemExit(f"the warm server is not running:\n{status.stdout}{status.stderr}")
        return dict(json.loads(status.stdout))

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        subprocess.run([str(self.flowdeck), "warm", "stop"], env=self.env, capture_output=True)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{self.pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if Path(f"/proc/{self.pid}").exists():
            os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(self._runtime, ignore_errors=True)

    def commands_cpu(self) -> float:
        """CPU seconds (user + system) of the commands the server forked and saw end, so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # after "pid (comm)": state is field 3, so cutime (16) and cstime (17) are at 13 and 14 here
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
