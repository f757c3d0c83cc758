"""Pipelines that follow others (``after:``): which upstream publishes are new, what a trigger waits for.

A publish is a run that succeeded having committed at least one table (the ledger records it:
``state/following.py``). An ``after: [a, b]`` trigger is due once each of ``a`` and ``b`` has a
publish newer than the one the trigger's last run was started for (or, before its first run,
newer than the moment the trigger came into force). Publishes that pile up meanwhile are taken
together: the run is started for the newest publish of each upstream, and its trigger key names
those runs, so the same set never starts two runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowdeck.engine.project.config.pipeline import AfterTrigger
from flowdeck.state import FollowState, Ledger, Publish


def follow_key(trigger: AfterTrigger) -> str:
    """The identity of an ``after:`` trigger within its pipeline: the pipelines it follows, sorted."""
    return "after:" + ",".join(sorted(trigger.after))


def describe_after(trigger: AfterTrigger) -> str:
    """``after orders, customers``: how the trigger reads in listings."""
    return "after " + ", ".join(trigger.after)


@dataclass(frozen=True)
class FollowStatus:
    """Where an ``after:`` trigger stands now: the new publishes it has, the upstreams it still waits for."""

    pipeline: str
    trigger: AfterTrigger
    state: FollowState
    fresh: dict[str, Publish]  # upstream → its newest publish not yet followed
    waiting_for: list[str]  # upstreams with no new publish, in the order the YAML lists them

    @property
    def due(self) -> bool:
        """Whether every upstream has published since the trigger's last run."""
        return not self.waiting_for

    def to_json(self) -> dict[str, object]:
        """The trigger's state as `flowdeck pipelines --json` and the daemon's /status give it."""
        return {
            "pipelines": list(self.trigger.after),
            "waiting_for": list(self.waiting_for),
            "published": {upstream: publish.run_id for upstream, publish in sorted(self.fresh.items())},
            "last_run_id": self.state.last_run_id,
        }


def follow_status(ledger: Ledger, pipeline: str, trigger: AfterTrigger, state: FollowState) -> FollowStatus:
    """Compare the upstreams' newest publishes with what the trigger last took (a few index probes)."""
    latest = ledger.latest_publishes(trigger.after)
    fresh = {upstream: publish for upstream, publish in latest.items() if publish.seq > state.taken_of(upstream)}
    return FollowStatus(pipeline=pipeline, trigger=trigger, state=state, fresh=fresh,
                        waiting_for=[upstream for upstream in trigger.after if upstream not in fresh])


def current_follow_status(ledger: Ledger, pipeline: str, trigger: AfterTrigger) -> FollowStatus | None:
    """The trigger's status read from the ledger, or None when no daemon has taken the trigger in yet."""
    state = ledger.follow_state(pipeline, follow_key(trigger))
    return None if state is None else follow_status(ledger, pipeline, trigger, state)
