"""Test seams for crash safety: kill this process, or fail once, at a named point of a step.

Only for tests and for operators rehearsing recovery; inert unless the variables are set.

    FLOWDECK_DEBUG_CRASH_AT=published:orders_clean    SIGKILL right after orders_clean's
                                                        warehouse commit, before the ledger write
    FLOWDECK_DEBUG_FAIL_AT=staging:raw_orders[:N]     raise a transient error at that point, the
                                                        first N times (default 1) in this process

Several ``point:step`` entries may be separated by commas; ``*`` as the step matches any.
Points: ``staging`` (before a step stages), ``staged`` (staged, not yet checked or published),
``publishing`` (inside the publish transaction, before COMMIT), ``published`` (committed, ledger
not yet written), ``exporting`` (export file written beside, not yet renamed; or a database
load's rows and marker written, not yet committed), ``exported`` (renamed into place, or
committed on the target database; ledger not yet written), ``promoting`` (``env promote``: the
table named as the step copied into prod inside the promote's transaction, not yet committed),
``promoted`` (the promote committed in prod's warehouse, the ledger not yet written; the step is
the environment), ``follow_queued`` (the daemon queued a
run of an ``after:`` trigger, not yet recorded what it followed; the "step" is the pipeline).
Modelled on Dagster's DebugCrashFlags.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

CRASH_VARIABLE = "FLOWDECK_DEBUG_CRASH_AT"
FAIL_VARIABLE = "FLOWDECK_DEBUG_FAIL_AT"
POINTS = ("staging", "staged", "publishing", "published", "exporting", "exported", "promoting", "promoted",
          "follow_queued")

_failures: Counter[tuple[str, str]] = Counter()
_lock = threading.Lock()


def _entries(variable: str) -> list[list[str]]:
    return [entry.strip().split(":") for entry in os.environ.get(variable, "").split(",") if entry.strip()]


def _matches(entry: list[str], point: str, step: str) -> bool:
    return len(entry) >= 2 and entry[0] == point and entry[1] in (step, "*")


def crash_point(point: str, step: str) -> None:
    """SIGKILL this process if ``FLOWDECK_DEBUG_CRASH_AT`` names this point of this step."""
    if any(_matches(entry, point, step) for entry in _entries(CRASH_VARIABLE)):
        os.kill(os.getpid(), signal.SIGKILL)


def fault_point(point: str, step: str) -> None:
    """Raise a transient ``StepFailed`` if ``FLOWDECK_DEBUG_FAIL_AT`` names this point of this step
    and it has not yet failed here as often as asked."""
    for entry in _entries(FAIL_VARIABLE):
        if not _matches(entry, point, step):
            continue
        times = int(entry[2]) if len(entry) > 2 and entry[2].isdigit() else 1
        with _lock:
            if _failures[(point, step)] >= times:
                return
            _failures[(point, step)] += 1
        from flowdeck.engine.errors import StepFailed

        raise StepFailed(f"injected transient failure at {point} of step `{step}` ({FAIL_VARIABLE})", transient=True)


def reset() -> None:
    """Forget the failures injected so far (tests running several runs in one process)."""
    with _lock:
        _failures.clear()
