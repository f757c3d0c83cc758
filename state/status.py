"""Run and step statuses: the values the ledger stores, as enums, and the groups of them the code asks about.

They are ``StrEnum``s: a member is its stored value, so it compares equal to the string read
from the ledger, prints as it and is written to JSON as it (``RunStatus.SUCCEEDED == "succeeded"``).
The ledger's schema allows exactly these values (``state/schema.py`` keeps them as its first
migration wrote them; tests/state/test_statuses.py checks that the two agree).
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is: ``queued → running → succeeded | failed | canceled | abandoned``.

    A queued run can also be canceled before it starts; ``abandoned`` is a running run whose
    process died, recorded by whoever noticed first.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    ABANDONED = "abandoned"


class StepStatus(StrEnum):
    """Where a step of a run (or an attempt of it) is: ``pending → running → succeeded | failed | skipped | canceled``.

    A step another run already completed is ``succeeded``, with ``reused_from`` naming that run;
    ``skipped`` means an upstream step failed. When a run ends without succeeding, its pending and
    running steps become ``canceled``; when its process died, its running steps become ``failed``
    (and its pending ones ``canceled``).
    """

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELED = "canceled"


# The groups, each in the order of a run's life.
RUN_FINISHED: tuple[RunStatus, ...] = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.ABANDONED)
"""Final states: nothing changes a run in one of them (only a new run can resume it)."""

RUN_LIVE: tuple[RunStatus, ...] = (RunStatus.QUEUED, RunStatus.RUNNING)
"""Not finished: the run will still execute or is executing, so what it owns must be left alone."""

RUN_RESUMABLE: tuple[RunStatus, ...] = (RunStatus.FAILED, RunStatus.CANCELED, RunStatus.ABANDONED)
"""Ended without succeeding: ``flowdeck run --resume`` may continue it."""

RUN_FAILURES: tuple[RunStatus, ...] = (RunStatus.FAILED, RunStatus.ABANDONED)
"""Ended by an error or by its process dying (a cancel is asked for, so it is no failure)."""

STEP_FINISHED: tuple[StepStatus, ...] = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED,
                                         StepStatus.CANCELED)
"""Final states of a step within its run."""
