"""What the end of a run delivers, with no daemon: what that run raised, once each, and nothing else;
a channel that is down is left to the daemon or `flowdeck alerts send`, a misconfigured one is said
once, as such, and not retried (issue 21, item 3)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.alerts.alertkit import HttpReceiver, flowdeck, make_failing, make_project, write
from tests.conftest import ledger_rows

NO_SECRETS = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}  # and no FLOWDECK_SECRET_HOOK_TOKEN


def _hook_project(root: Path, url: str) -> Path:
    root = make_project(root, f"""
        alerts:
          channels:
            hook: {{type: webhook, url: "{url}"}}
          routes:
            - channels: [hook]
          retry: {{initial: 0.1s, max: 0.2s}}
        """)
    write(root / "pipelines" / "other" / "pipeline.yaml", """
        steps:
          - name: other_orders
            kind: extract
            source: {path: data/orders.csv}
        """)
    make_failing(root)
    return root


def _outbox(root: Path) -> list[dict[str, object]]:
    return ledger_rows(root, "SELECT id, channel, kind, state, attempts FROM outbox ORDER BY id")


def test_a_run_delivers_what_it_raised_once_and_leaves_older_notifications_alone(tmp_path: Path) -> None:
    with HttpReceiver() as hook:
        hook.status = 500
        root = _hook_project(tmp_path / "p", f"json://127.0.0.1:{hook.port}/flowdeck")
        failed = flowdeck(root, "run", "orders")
        assert failed.returncode == 1
        assert [status for *_, status in hook.requests] == [500]  # tried once, at the end of its own run
        said = [line for line in failed.stderr.splitlines() if "notification" in line]
        assert len(said) == 1 and said[0].startswith("! notification to hook not delivered yet: channel hook:"), said
        assert said[0].endswith("the daemon (or `flowdeck alerts send`) tries again")
        hook.status = 200
        # the failed notification is due again by now; a run of another pipeline raises nothing and sends nothing
        other = flowdeck(root, "run", "other")
        assert other.returncode == 0, other.stderr
        assert "notification" not in other.stderr and len(hook.requests) == 1
        assert [(row["state"], row["attempts"]) for row in _outbox(root)] == [("pending", 1)]
        sent = flowdeck(root, "alerts", "send")
        assert sent.returncode == 0 and sent.stdout.strip() == "1 sent, 0 failed"
        assert len(hook.accepted()) == 1 and hook.accepted()[0]["flowdeck"]["rule"] == "run_failed"


def test_a_missing_secret_is_said_once_as_a_configuration_error_and_not_retried(tmp_path: Path) -> None:
    assert not [name for name in os.environ if name.startswith("FLOWDECK_") or name == "CREDENTIALS_DIRECTORY"]
    with HttpReceiver() as hook:
        root = _hook_project(tmp_path / "p", f"json://flowdeck:${{secret:HOOK_TOKEN}}@127.0.0.1:{hook.port}/")
        failed = flowdeck(root, "run", "orders", env=NO_SECRETS)
        assert failed.returncode == 1
        said = [line for line in failed.stderr.splitlines() if "notification" in line or "HOOK_TOKEN" in line]
        assert len(said) == 1, failed.stderr
        assert said[0].startswith("✗ notification to hook not sent, and not retried: channel hook: secret `HOOK_TOKEN` "
                                  "is not set"), said
        assert "store it with `flowdeck secrets set HOOK_TOKEN`" in said[0]
        assert said[0].endswith("fix it, then `flowdeck alerts send --retry-failed`")
        assert "retrying in" not in failed.stderr and hook.requests == []
        assert [(row["state"], row["attempts"]) for row in _outbox(root)] == [("failed", 1)]
        # nothing tries it again behind the operator's back: not a later run, not `alerts send`
        again = flowdeck(root, "run", "orders", env=NO_SECRETS)  # fails again, inside the repeat interval
        assert again.returncode == 1 and "HOOK_TOKEN" not in again.stderr
        send = flowdeck(root, "alerts", "send", env=NO_SECRETS)
        assert send.returncode == 0 and send.stdout.strip() == "0 sent, 0 failed"
        assert [(row["state"], row["attempts"]) for row in _outbox(root)] == [("failed", 1)]
        listed = json.loads(flowdeck(root, "alerts", "--json", env=NO_SECRETS).stdout)["notifications"]
        assert "HOOK_TOKEN" in listed[0]["last_error"]
        # once the secret is set, the operator retries it, and it is delivered
        fixed = flowdeck(root, "alerts", "send", "--retry-failed", env={**NO_SECRETS, "FLOWDECK_SECRET_HOOK_TOKEN": "t0k"})
        assert fixed.returncode == 0 and fixed.stdout.strip() == "1 sent, 0 failed", fixed
        assert len(hook.accepted()) == 1 and hook.requests[0][0].get("Authorization", "").startswith("Basic ")
