"""Two daemons' followers on one real ledger (the lease keeps a second daemon out; the follow state and the
trigger keys would not need it): a publish starts the follower once, however many look, and a busy follower
waits for its run to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowdeck.engine.daemon.followers import Followers
from flowdeck.engine.project.config.pipeline import AfterTrigger
from flowdeck.engine.run.submit import Submitted
from flowdeck.state import Ledger
from flowdeck.state.records import CommitRecord
from flowdeck.state.status import RunStatus, StepStatus


def publish(ledger: Ledger, pipeline: str) -> str:
    """A run of ``pipeline`` that committed a table and succeeded."""
    run, _ = ledger.create_run(pipeline, trigger_kind="manual")
    assert ledger.claim_run(run.run_id)
    ledger.add_steps(run.run_id, [("s", "extract", "t")])
    ledger.step_started(run.run_id, "s")
    seq = int(ledger._query("SELECT IFNULL(MAX(seq), 0) FROM commits")[0][0]) + 1
    ledger.step_finished(run.run_id, "s", StepStatus.SUCCEEDED, rows=1, commit=CommitRecord(
        warehouse_id="w", seq=seq, run_id=run.run_id, step="s", output=f"{pipeline}_t", kind="publish",
        data_run_id=run.run_id, base_run_id=None, rows=1, checksum="c", committed_at=0.0))
    assert ledger.finish_run(run.run_id, RunStatus.SUCCEEDED)
    return run.run_id


def submitter(ledger: Ledger) -> Any:
    def submit(pipeline: str, params: dict[str, str], *, trigger_kind: str, trigger_key: str,
               options: dict[str, Any], environment: str = "prod") -> Submitted:
        record, created = ledger.create_run(pipeline, trigger_kind=trigger_kind, trigger_key=trigger_key,
                                            options=options, environment=environment)
        return Submitted(record, created, None)
    return submit


def test_two_daemons_looking_at_one_publish_start_the_follower_once(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as one, Ledger(tmp_path / "ledger.sqlite") as other:
        first, second = Followers(one, submitter(one)), Followers(other, submitter(other))
        for followers in (first, second):
            followers.apply("b", [AfterTrigger(after=["a"])])
        assert first.poll() == [] and second.poll() == []  # nothing published since the trigger came in
        a_run = publish(one, "a")
        assert len(first.poll()) == 1
        assert second.poll() == []  # the ledger says the publish was followed
        assert first.poll() == [] and second.poll() == []
        [run] = one.list_runs(pipeline="b")
        assert (run.trigger_kind, run.trigger_key, run.options) == ("after", f"after:b:a={a_run}", {"after": {"a": a_run}})

        publish(one, "a")  # while b's run is still queued: it waits for that one to end
        assert first.poll() == []
        assert one.claim_run(run.run_id) and one.finish_run(run.run_id, RunStatus.SUCCEEDED)
        assert len(first.poll()) == 1
        assert len(one.list_runs(pipeline="b")) == 2
        assert [entry["waiting_for"] for entry in first.report()] == [["a"]]
