"""A schedule's slots: the trigger that computes them, the next one, its identity and its description.

The daemon fires slots from this trigger, and the pipeline listings say when the next one is
due from the same trigger, so the two cannot disagree. A schedule's identity in the ledger is
``schedule_identity``: stable, made of what decides its slots (the cron expression and time zone, or
the interval), never of how it is worded for people (``describe_schedule``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from flowdeck.engine.project.config.pipeline import Schedule

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def build_trigger(schedule: Schedule) -> BaseTrigger:
    """The APScheduler trigger of a schedule (interval slots aligned to the Unix epoch)."""
    # APScheduler (and asyncio with it) costs ~0.15 s to import: only what shows or fires schedules pays it
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=schedule.timezone)
    assert schedule.interval is not None
    return IntervalTrigger(seconds=int(schedule.interval.total_seconds()), start_date=EPOCH, timezone=timezone.utc)


def next_scheduled_at(schedule: Schedule, now: float) -> float | None:
    """When the daemon fires this schedule next after ``now`` (unix time); None for a schedule the
    validator will refuse (a bad expression or time zone is its to report)."""
    try:
        trigger = build_trigger(schedule)
    except (ValueError, LookupError):
        return None
    moment = trigger.get_next_fire_time(None, datetime.fromtimestamp(now, tz=timezone.utc))
    return moment.timestamp() if moment is not None else None


def schedule_identity(schedule: Schedule) -> str:
    """What identifies a schedule's slots in the ledger: ``cron:<time zone>:<expression>`` or
    ``interval:<seconds>``. A change of it starts the schedule afresh; rewording its description does not."""
    if schedule.cron is not None:
        return f"cron:{schedule.timezone}:{schedule.cron}"  # a time zone name has no colon
    assert schedule.interval is not None
    return f"interval:{int(schedule.interval.total_seconds())}"


def describe_schedule(schedule: Schedule) -> str:
    """``cron '0 6 * * *' (Europe/Paris)`` or ``every 900s``."""
    if schedule.cron is not None:
        return f"cron '{schedule.cron}' ({schedule.timezone})"
    assert schedule.interval is not None
    return f"every {int(schedule.interval.total_seconds())}s"
