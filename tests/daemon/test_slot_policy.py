"""Which schedule slots are due, and which of them fire after downtime (pure functions)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flowdeck.engine.daemon.schedules import due_slots, plan_slots
from flowdeck.engine.project.config.pipeline import Schedule


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_interval_slots_are_multiples_of_the_interval_after_the_anchor() -> None:
    schedule = Schedule(interval="10s")
    slots, total = due_slots(schedule, after=1005.0, until=1042.0, keep=10)
    assert slots == [1010.0, 1020.0, 1030.0, 1040.0]
    assert total == 4


def test_a_slot_equal_to_the_anchor_is_not_due_again() -> None:
    slots, total = due_slots(Schedule(interval="10s"), after=1010.0, until=1010.0, keep=10)
    assert (slots, total) == ([], 0)


def test_cron_slots_follow_the_time_zone_including_daylight_saving() -> None:
    # 06:00 in Paris is 05:00 UTC in winter and 04:00 UTC in summer (DST began 2026-03-29).
    schedule = Schedule(cron="0 6 * * *", timezone="Europe/Paris")
    slots, total = due_slots(schedule, after=at("2026-03-27T12:00:00"), until=at("2026-03-30T12:00:00"), keep=10)
    assert slots == [at("2026-03-28T05:00:00"), at("2026-03-29T04:00:00"), at("2026-03-30T04:00:00")]
    assert total == 3


def test_only_the_last_kept_slots_are_returned_but_all_are_counted() -> None:
    slots, total = due_slots(Schedule(cron="* * * * *"), after=at("2026-01-01T00:00:00"),
                             until=at("2026-01-01T01:00:00"), keep=2)
    assert slots == [at("2026-01-01T00:59:00"), at("2026-01-01T01:00:00")]
    assert total == 60


@pytest.mark.parametrize(
    ("catchup", "fired", "missed"),
    [
        ("all", [700.0, 800.0, 900.0], [400.0, 500.0, 600.0]),
        ("latest", [900.0], [400.0, 500.0, 600.0, 700.0, 800.0]),
        ("none", [], [400.0, 500.0, 600.0, 700.0, 800.0, 900.0]),
    ],
)
def test_late_slots_follow_the_catchup_policy(catchup: str, fired: list[float], missed: list[float]) -> None:
    schedule = Schedule(interval="100s", catchup=catchup, max_catchup=3, misfire_grace="30s")
    slots = [400.0, 500.0, 600.0, 700.0, 800.0, 900.0]
    plan = plan_slots(schedule, slots, len(slots), now=1000.0)
    assert plan.fire == fired
    assert plan.missed == missed
    assert plan.missed_total == len(missed)


def test_a_slot_within_the_misfire_grace_fires_even_with_catchup_none() -> None:
    schedule = Schedule(interval="100s", catchup="none", misfire_grace="60s")
    plan = plan_slots(schedule, [800.0, 900.0], 2, now=950.0)
    assert plan.fire == [900.0]
    assert plan.missed == [800.0]


def test_latest_does_not_add_a_late_slot_when_one_is_on_time() -> None:
    schedule = Schedule(interval="100s", catchup="latest", misfire_grace="60s")
    plan = plan_slots(schedule, [700.0, 800.0, 900.0], 3, now=950.0)
    assert plan.fire == [900.0]
    assert plan.missed == [700.0, 800.0]
