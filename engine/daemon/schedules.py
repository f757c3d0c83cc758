"""Schedules: APScheduler as a timer, the ledger as the memory of which slots were handled.

APScheduler (3.11, in-memory job store rebuilt from the YAML) only wakes the daemon when a
pipeline's next slot is due. What is due is always computed the same way, from the ledger:
every slot after the last handled one (or after the moment the schedule came into force),
sorted into on time (within ``misfire_grace``) and late, and the late ones handled by the
``catchup`` policy. Each slot is submitted with the trigger key ``schedule:<pipeline>:<slot>``,
unique in the ledger, so a slot fires at most once whatever wakes the daemon, and whether or
not it was running when the slot came.
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.logs import run_fields
from flowdeck.engine.plan.slots import build_trigger, describe_schedule, schedule_identity
from flowdeck.engine.project.config.pipeline import Schedule
from flowdeck.engine.run.submit import Submitted
from flowdeck.engine.run.trigger_keys import schedule_key
from flowdeck.state import Ledger
from flowdeck.state.records import iso
from flowdeck.state.status import RunStatus

CATCHUP_HORIZON_SECONDS = 7 * 86400  # never look further back than this for missed slots
MISSED_RECORDED = 100  # missed slots recorded one by one; older ones only counted in an event
log = logging.getLogger("flowdeck.daemon.schedules")

Submit = Callable[..., Submitted]  # the front door's submit, audited as the daemon's


def due_slots(schedule: Schedule, after: float, until: float, keep: int) -> tuple[list[float], int]:
    """The last ``keep`` slots in ``(after, until]`` and how many there are in all."""
    after = max(after, until - CATCHUP_HORIZON_SECONDS)
    if schedule.interval is not None:  # arithmetic: no need to walk every slot
        step = int(schedule.interval.total_seconds())
        first, last = int(after // step) + 1, int(until // step)
        total = max(last - first + 1, 0)
        return [float(k * step) for k in range(max(first, last - keep + 1), last + 1)], total
    trigger = build_trigger(schedule)
    kept: deque[float] = deque(maxlen=keep)
    total = 0
    previous: datetime | None = None
    cursor = datetime.fromtimestamp(after, tz=timezone.utc) + timedelta(microseconds=1)
    while True:
        slot = trigger.get_next_fire_time(previous, cursor)
        if slot is None or slot.timestamp() > until:
            return list(kept), total
        kept.append(slot.timestamp())
        total += 1
        previous, cursor = slot, slot + timedelta(microseconds=1)


@dataclass(frozen=True)
class SlotPlan:
    """Which due slots to fire and which to record as missed."""

    fire: list[float]
    missed: list[float]
    missed_total: int


def plan_slots(schedule: Schedule, slots: list[float], total: int, now: float) -> SlotPlan:
    """Apply misfire grace and the catch-up policy to the due slots (oldest first)."""
    grace = schedule.misfire_grace.total_seconds()
    on_time = [slot for slot in slots if now - slot <= grace]
    late = [slot for slot in slots if now - slot > grace]
    late_total = total - len(on_time)
    if schedule.catchup == "all":
        caught = late[-schedule.max_catchup:]
    elif schedule.catchup == "latest" and not on_time:
        caught = late[-1:]
    else:
        caught = []
    missed = [slot for slot in late if slot not in caught]
    return SlotPlan(fire=caught + on_time, missed=missed, missed_total=late_total - len(caught))


class Schedules:
    """The pipelines' schedules: APScheduler jobs that wake the daemon, and the slot bookkeeping."""

    def __init__(self, ledger: Ledger, submit: Submit, wakeups: queue.Queue[str]) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        self.ledger = ledger
        self.submit = submit
        self._wakeups = wakeups
        self._schedules: dict[str, Schedule] = {}
        self._since: dict[str, float] = {}
        # APScheduler is only a timer here: its job enqueues a wake-up and returns. Lateness is
        # flowdeck's policy, so APScheduler must never drop a wake-up (misfire_grace_time=None).
        self._scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc,
        )

    def start(self) -> None:
        """Start the timer thread."""
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop the timer thread (nothing it runs takes long)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    @property
    def running(self) -> bool:
        """Whether the timer thread runs."""
        return bool(self._scheduler.running)

    def apply(self, pipeline: str, schedule: Schedule | None) -> None:
        """Install (or replace, or remove) a pipeline's schedule, then handle its due slots."""
        job_id = f"schedule:{pipeline}"
        if schedule is None:
            if self._schedules.pop(pipeline, None) is not None:
                self._scheduler.remove_job(job_id)
                log.info("%s: schedule removed", pipeline)
            return
        if self._schedules.get(pipeline) == schedule:
            return
        self._since[pipeline] = self.ledger.schedule_since(pipeline, schedule_identity(schedule),
                                                           describe_schedule(schedule))
        self._schedules[pipeline] = schedule
        self._scheduler.add_job(self._wakeups.put, build_trigger(schedule), args=[pipeline], id=job_id,
                                name=job_id, replace_existing=True)
        log.info("%s: scheduled %s, catch-up %s, overlap %s", pipeline, describe_schedule(schedule), schedule.catchup,
                 schedule.overlap)
        self.reconcile(pipeline)

    def reconcile(self, pipeline: str, now: float | None = None) -> list[str]:
        """Handle every due, unhandled slot of the pipeline; return the ids of the runs queued."""
        schedule = self._schedules.get(pipeline)
        if schedule is None:
            return []
        now = now or time.time()
        ledger = self.ledger
        anchor = max(self._since[pipeline], ledger.last_tick_slot(pipeline) or 0.0)
        slots, total = due_slots(schedule, anchor, now, keep=max(schedule.max_catchup, MISSED_RECORDED) + 1)
        if not total:
            return []
        plan = plan_slots(schedule, slots, total, now)
        for slot in plan.missed[-MISSED_RECORDED:]:
            ledger.record_tick(pipeline, slot, "missed", reason=f"late by {now - slot:.0f}s, catch-up {schedule.catchup}")
        if plan.missed_total:
            log.warning("%s: %d slot(s) missed (catch-up %s)", pipeline, plan.missed_total, schedule.catchup)
        # a run of the pipeline in another environment is not this schedule's previous run
        busy = any(run.pipeline == pipeline and run.environment == schedule.env
                   for run in ledger.runs_in_status(RunStatus.QUEUED, RunStatus.RUNNING))
        queued: list[str] = []
        for slot in plan.fire:
            if busy and schedule.overlap == "skip" and not queued:
                ledger.record_tick(pipeline, slot, "skipped", reason="the previous run is still queued or running")
                log.info("%s: slot %s skipped, the previous run is still going", pipeline, iso(slot))
                continue
            run_id = self._fire(pipeline, slot)
            if run_id:
                queued.append(run_id)
        return queued

    def _fire(self, pipeline: str, slot: float) -> str | None:
        ledger = self.ledger
        environment = self._schedules[pipeline].env
        try:
            submitted = self.submit(
                pipeline, {}, trigger_kind="schedule", trigger_key=schedule_key(pipeline, slot, environment),
                options={"scheduled_for": slot}, environment=environment,
            )
        except FlowdeckError as error:
            ledger.record_tick(pipeline, slot, "failed", reason=error.render())
            log.error("%s: slot %s could not be queued: %s", pipeline, iso(slot), error.what)
            return None
        record = submitted.record
        ledger.record_tick(pipeline, slot, "submitted", run_id=record.run_id)
        if submitted.created:
            log.info("%s: slot %s queued run %s", pipeline, iso(slot), record.run_id,
                     extra=run_fields(record.run_id, pipeline, event="run.queued"))
        return record.run_id

    def report(self) -> list[dict[str, Any]]:
        """Each schedule with its next fire time and last slots (for /status and the lease)."""
        entries = []
        for pipeline, schedule in sorted(self._schedules.items()):
            job = self._scheduler.get_job(f"schedule:{pipeline}")
            next_fire = job.next_run_time.timestamp() if job is not None and job.next_run_time else None
            last = self.ledger.ticks(pipeline, limit=1)
            entries.append({
                "pipeline": pipeline,
                "schedule": describe_schedule(schedule),
                "catchup": schedule.catchup,
                "overlap": schedule.overlap,
                "in_force_since": iso(self._since.get(pipeline)),
                "next_fire_time": iso(next_fire),
                "last_slot": last[0].to_json() if last else None,
            })
        return entries
