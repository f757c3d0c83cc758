"""``after:`` triggers in the daemon: start a pipeline once the pipelines it follows have published.

The daemon learns of publishes from the ledger, whoever ran the upstream (its own workers, or
`flowdeck run` in another process): on each pass of its loop it reads the position of the newest
publish (one index probe) and looks at its followers only when that moved, when a follower's
previous run was still going, or when pipelines were (re)loaded. What is due is computed from the
ledger alone (``engine/plan/follow.py``), so a publish made while the daemon was down is followed
when it starts, once. The run's trigger key names the upstream runs it follows: a restart between
queuing the run and recording it, a second look or a second daemon queues nothing new.
"""

from __future__ import annotations

import logging
from typing import Any

from flowdeck.engine.daemon.schedules import Submit
from flowdeck.engine.debug_hooks import crash_point
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.logs import run_fields
from flowdeck.engine.project.config.pipeline import AfterTrigger
from flowdeck.engine.plan.follow import FollowStatus, describe_after, follow_key, follow_status
from flowdeck.engine.run.trigger_keys import after_key
from flowdeck.state import Ledger

log = logging.getLogger("flowdeck.daemon.followers")


class Followers:
    """Every ``after:`` trigger of every pipeline, and the cursor of publishes already looked at."""

    def __init__(self, ledger: Ledger, submit: Submit) -> None:
        self.ledger = ledger
        self.submit = submit
        self._triggers: dict[str, list[AfterTrigger]] = {}
        self._seen_seq = -1  # the newest publish looked at; -1: look at start
        self._look_again = True  # a follower waits for its previous run, or triggers changed
        self._problems: dict[str, str] = {}  # pipeline → why its run could not be queued

    def apply(self, pipeline: str, triggers: list[AfterTrigger]) -> None:
        """Install (or replace, or remove) a pipeline's ``after:`` triggers; a new one follows publishes from now on."""
        if self._triggers.get(pipeline, []) == triggers:
            return
        keys = [follow_key(trigger) for trigger in triggers]
        self.ledger.forget_follows(pipeline, keys)
        for trigger, key in zip(triggers, keys):
            self.ledger.start_following(pipeline, key, describe_after(trigger))
        if triggers:
            self._triggers[pipeline] = list(triggers)
            log.info("%s: runs %s", pipeline, "; ".join(describe_after(trigger) for trigger in triggers))
        elif self._triggers.pop(pipeline, None) is not None:
            log.info("%s: no longer follows other pipelines", pipeline)
        self._problems.pop(pipeline, None)
        self._look_again = True

    def poll(self) -> list[str]:
        """Queue the followers that are due; return the ids of the runs queued. Cheap when nothing published."""
        seq = self.ledger.last_publish_seq()
        if seq == self._seen_seq and not self._look_again:
            return []
        self._seen_seq, self._look_again = seq, False
        queued: list[str] = []
        for pipeline, triggers in list(self._triggers.items()):
            for trigger in triggers:
                run_id = self._consider(pipeline, trigger)
                if run_id:
                    queued.append(run_id)
        return queued

    def _consider(self, pipeline: str, trigger: AfterTrigger) -> str | None:
        key = follow_key(trigger)
        state = self.ledger.follow_state(pipeline, key) or self.ledger.start_following(pipeline, key,
                                                                                       describe_after(trigger))
        status = follow_status(self.ledger, pipeline, trigger, state)
        if not status.due:
            return None
        if state.last_run_id is not None:
            previous = self.ledger.get_run(state.last_run_id)
            if previous is not None and not previous.finished:
                # it reads the upstream tables when it runs: one run after it covers every publish made meanwhile
                self._look_again = True
                return None
        return self._fire(status)

    def _fire(self, status: FollowStatus) -> str | None:
        pipeline = status.pipeline
        taken = {upstream: publish.run_id for upstream, publish in status.fresh.items()}
        try:
            environment = status.trigger.env
            submitted = self.submit(pipeline, {}, trigger_kind="after",
                                    trigger_key=after_key(pipeline, taken, environment),
                                    options={"after": taken}, environment=environment)
        except FlowdeckError as error:
            self._problems[pipeline] = f"pipeline {pipeline}: its {describe_after(status.trigger)} run could not be " \
                                       f"queued: {error.what}"
            log.error("%s: %s run could not be queued: %s", pipeline, describe_after(status.trigger), error.render())
            return None
        self._problems.pop(pipeline, None)
        record = submitted.record
        crash_point("follow_queued", pipeline)
        self.ledger.record_followed(pipeline, follow_key(status.trigger),
                                    {upstream: publish.seq for upstream, publish in status.fresh.items()}, record.run_id)
        if submitted.created:
            followed = ", ".join(f"{upstream} (run {run_id})" for upstream, run_id in sorted(taken.items()))
            log.info("%s: %s published; queued run %s", pipeline, followed, record.run_id,
                     extra=run_fields(record.run_id, pipeline, event="run.queued"))
        return record.run_id

    def problems(self) -> list[str]:
        """Followers whose last run could not be queued, one sentence each."""
        return sorted(self._problems.values())

    def report(self) -> list[dict[str, Any]]:
        """Each ``after:`` trigger with what it waits for (for /status and the lease)."""
        entries: list[dict[str, Any]] = []
        for pipeline, triggers in sorted(self._triggers.items()):
            for trigger in triggers:
                state = self.ledger.follow_state(pipeline, follow_key(trigger))
                if state is None:
                    continue
                entries.append({"pipeline": pipeline, **follow_status(self.ledger, pipeline, trigger, state).to_json()})
        return entries
