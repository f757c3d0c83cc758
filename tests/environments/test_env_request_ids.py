"""A request id (`flowdeck run --request-id`) is scoped to its environment: the same id for prod and for
dev is one run in each, and a call never answers with the other environment's run. Real CLI, real ledger."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ledger_rows, run_flowdeck

from flowdeck.state import Ledger


def runs_of(project: Path) -> list[tuple[str, str, str]]:
    return [(row["run_id"], row["environment"], row["trigger_key"]) for row in
            ledger_rows(project, "SELECT run_id, environment, trigger_key FROM runs ORDER BY created_at")]


def test_one_request_id_is_one_run_per_environment_and_never_the_other_environments(project: Path) -> None:
    in_prod = run_flowdeck("run", "daily_sales", "--request-id", "deploy-7", project=project)
    assert in_prod.returncode == 0, in_prod
    [(prod_run, _, prod_key)] = runs_of(project)
    assert prod_key == "manual:daily_sales:deploy-7"  # prod's keys read as they did before environments

    in_dev = run_flowdeck("run", "daily_sales", "--env", "dev", "--request-id", "deploy-7", project=project)
    assert in_dev.returncode == 0, in_dev
    assert "already started" not in in_dev.stderr  # dev ran, it was not handed prod's run
    assert len(runs_of(project)) == 2
    dev_run, dev_env, dev_key = runs_of(project)[1]
    assert (dev_env, dev_key) == ("dev", "manual:daily_sales@dev:deploy-7") and dev_run != prod_run

    for extra, expected in ((("--env", "dev"), dev_run), ((), prod_run), (("--env", "prod"), prod_run)):
        again = run_flowdeck("run", "daily_sales", *extra, "--request-id", "deploy-7", project=project)
        assert again.returncode == 0, again
        assert f"run {expected} was already started for this request (succeeded)" in again.stderr, (extra, again)
    assert len(runs_of(project)) == 2


def test_an_old_dev_key_without_its_environment_is_refused_for_prod_not_returned(project: Path) -> None:
    """A dev run queued before keys named their environment has the bare key: prod's request for that id
    is refused in words (exit 2), never answered with dev's run, and starts nothing."""
    (project / ".flowdeck").mkdir(exist_ok=True)
    with Ledger(project / ".flowdeck" / "ledger.sqlite") as ledger:
        old, _ = ledger.create_run("daily_sales", trigger_kind="manual", trigger_key="manual:daily_sales:nightly-1",
                                   environment="dev")
    refused = run_flowdeck("run", "daily_sales", "--request-id", "nightly-1", project=project)
    assert refused.returncode == 2, refused
    assert f"already started run {old.run_id} of daily_sales in environment `dev`, not in `prod`" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert [run_id for run_id, _, _ in runs_of(project)] == [old.run_id]
    # in dev itself the new key is a new request (the old run keeps its key)
    fresh = run_flowdeck("run", "daily_sales", "--env", "dev", "--request-id", "nightly-1", project=project)
    assert fresh.returncode == 0, fresh
    assert runs_of(project)[-1][1:] == ("dev", "manual:daily_sales@dev:nightly-1")
