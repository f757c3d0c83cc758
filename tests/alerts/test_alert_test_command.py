"""`flowdeck alerts test` as a newcomer meets it: with no mail server, with the local mail sink its hint
names, and the failed test left behind, dropped from the outbox by a role-checked, audited command."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.alerts.alertkit import flowdeck, make_project, wait_until
from tests.conftest import ledger_rows


def _free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (the kernel's pick, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _email_project(root: Path, port: int, extra: str = "") -> Path:
    return make_project(root, f"""
        alerts:
          channels:
            ops_email:
              type: email
              url: "mailto://127.0.0.1:{port}?from=flowdeck@example.com&to=you@example.com"
        """, extra=extra)


def _notifications(root: Path) -> list[dict[str, object]]:
    import json

    listed = flowdeck(root, "alerts", "--json")
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout)["notifications"])


def test_with_no_mail_server_the_test_says_what_to_do_and_is_not_retried(tmp_path: Path) -> None:
    port = _free_port()
    root = _email_project(tmp_path / "p", port)
    tried = flowdeck(root, "alerts", "test", "ops_email")
    assert tried.returncode == 1 and tried.stdout == ""
    lines = tried.stderr.splitlines()
    assert lines[0].startswith("✗ ops_email: channel ops_email: Connection error"), tried.stderr
    assert lines[1] == ("hint: flowdeck hands the mail to the server named in alerts.channels.ops_email.url in "
                        f"flowdeck.yaml: here 127.0.0.1:{port}.")
    assert "python -m aiosmtpd -n -l 127.0.0.1:8025" in tried.stderr and "mailtos://USER:" in tried.stderr
    assert "given up" not in tried.stderr  # the sender's log line is not printed beside the command's own words
    [failed] = _notifications(root)
    assert failed["kind"] == "test" and failed["state"] == "failed" and failed["attempts"] == 1
    assert lines[-1] == f"the failed test is listed by `flowdeck alerts` until dropped: `flowdeck alerts drop {failed['id']}`"
    # a test is for the person watching: not sent again later, not even by --retry-failed
    again = flowdeck(root, "alerts", "send", "--retry-failed")
    assert again.returncode == 0 and again.stdout.strip() == "0 sent, 0 failed", again
    assert [(n["state"], n["attempts"]) for n in _notifications(root)] == [("failed", 1)]
    listed = flowdeck(root, "alerts")
    assert f"failed tests stay listed until dropped: `flowdeck alerts drop {failed['id']}`" in listed.stderr


def test_a_failed_test_is_dropped_by_an_operator_and_the_drop_is_audited(tmp_path: Path) -> None:
    from flowdeck.engine.governance.roles import Identity

    me = Identity.current().user
    root = _email_project(tmp_path / "p", _free_port())
    assert flowdeck(root, "alerts", "test", "ops_email").returncode == 1
    [failed] = _notifications(root)
    config = root / "flowdeck.yaml"
    config.write_text(config.read_text() + f"roles:\n  viewers: [{me}]\n")
    refused = flowdeck(root, "alerts", "drop", str(failed["id"]))
    assert refused.returncode == 3 and "testing alert channels and dropping notifications" in refused.stderr
    assert len(_notifications(root)) == 1
    config.write_text(config.read_text().replace(f"viewers: [{me}]", f"operators: [{me}]"))
    dropped = flowdeck(root, "alerts", "drop", str(failed["id"]))
    assert dropped.returncode == 0, dropped.stderr
    assert dropped.stdout.strip() == f"dropped notification {failed['id']} (test to ops_email, failed)"
    assert _notifications(root) == [] and "notifications not delivered" not in flowdeck(root, "alerts").stdout
    assert ledger_rows(root, "SELECT * FROM outbox") == [] and ledger_rows(root, "SELECT * FROM outbox_attempts") == []
    audit = ledger_rows(root, "SELECT actor, action, target, outcome FROM audit_log WHERE action = 'notification.drop' "
                              "ORDER BY entry_id")
    assert audit == [{"actor": me, "action": "notification.drop", "target": str(failed["id"]), "outcome": "denied"},
                     {"actor": me, "action": "notification.drop", "target": str(failed["id"]), "outcome": "ok"}]
    events = ledger_rows(root, "SELECT message FROM events WHERE kind = 'notification.dropped'")
    assert events == [{"message": f"notification {failed['id']} (test) to ops_email dropped by {me} before it was "
                                  "delivered"}]
    gone = flowdeck(root, "alerts", "drop", str(failed["id"]))
    assert gone.returncode == 2 and f"there is no notification {failed['id']} in the outbox" in gone.stderr


def test_the_local_mail_sink_the_hint_names_receives_the_test(tmp_path: Path) -> None:
    port = _free_port()
    sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: _listening(port), 30, "the mail sink to listen")
        root = _email_project(tmp_path / "p", port)
        tried = flowdeck(root, "alerts", "test", "ops_email")
        assert tried.returncode == 0, tried.stderr
        assert tried.stdout.startswith("✓ test notification test-") and tried.stdout.rstrip().endswith(
            "delivered to ops_email")
        assert [n["state"] for n in _notifications(root)] == []  # delivered: nothing waits
    finally:
        sink.terminate()
        printed, _ = sink.communicate(timeout=30)
    assert "Subject: [flowdeck alert-test] TEST: test notification from flowdeck (alert-test)" in printed


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        time.sleep(0.1)
        return False
