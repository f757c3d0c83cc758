"""Nothing lost, nothing leaked: crashes around the outbox, and secrets kept out of every output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import urllib.parse
from pathlib import Path

import pytest
from alertkit import FLOWDECK, HttpReceiver, SmtpServer, flowdeck, make_failing, make_project

from flowdeck.engine.workspace import Workspace

pytestmark = pytest.mark.slow


def hook_alerts(port: int) -> str:
    return f"""
        alerts:
          channels:
            hook: {{type: webhook, url: "json://127.0.0.1:{port}/in"}}
          routes:
            - channels: [hook]
        """


def test_a_run_process_killed_right_after_failing_leaves_its_notification_in_the_outbox(tmp_path: Path) -> None:
    """The notification is written with the run's final state, before any attempt to send it."""
    with HttpReceiver() as hook:
        root = make_project(tmp_path / "project", hook_alerts(hook.port))
        script = textwrap.dedent(f"""
            import os, signal
            from flowdeck.engine.workspace import Workspace
            ws = Workspace.open({str(root)!r})
            run, _ = ws.submit("orders")
            ws.ledger.claim_run(run.run_id)
            ws.ledger.finish_run(run.run_id, "failed", "step order_totals failed: boom")
            os.kill(os.getpid(), signal.SIGKILL)  # dies before the end-of-run delivery
            """)
        died = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert died.returncode == -signal.SIGKILL, died.stderr
        assert hook.requests == []
        sent = flowdeck(root, "alerts", "send")
        assert sent.returncode == 0, sent.stderr
        [body] = hook.accepted()
        assert body["flowdeck"]["rule"] == "run_failed" and body["flowdeck"]["pipeline"] == "orders"


def test_a_sender_killed_between_sending_and_marking_sends_again_rather_than_lose_it(tmp_path: Path) -> None:
    with HttpReceiver() as hook:
        root = make_project(tmp_path / "project", hook_alerts(hook.port))
        ws = Workspace.open(root)
        run, _ = ws.submit("orders")
        ws.ledger.claim_run(run.run_id)
        ws.ledger.finish_run(run.run_id, "failed", "boom")  # the outbox now holds one notification
        sender: dict[str, subprocess.Popen[bytes]] = {}

        def kill_the_sender(_: bytes) -> None:  # the message has arrived; the sender dies before it hears back
            if len(hook.requests) == 0:
                os.kill(sender["process"].pid, signal.SIGKILL)
                sender["process"].wait()

        hook.on_post = kill_the_sender
        sender["process"] = subprocess.Popen([FLOWDECK, "--project", str(root), "alerts", "send"],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert sender["process"].wait(timeout=60) == -signal.SIGKILL
        [claimed] = ws.ledger.notifications(states=("sending",))  # claimed by a dead process, not marked

        hook.on_post = None
        again = flowdeck(root, "alerts", "send")
        assert again.returncode == 0, again.stderr
        copies = [body for _, body, _ in hook.requests]
        assert len(copies) == 2 and copies[0] == copies[1]  # at least once: the same notification, same id
        [sent] = ws.ledger.notifications(states=("sent",))
        assert sent.id == claimed.id
        outcomes = [attempt[4] for attempt in ws.ledger.notification_attempts(sent.id)]
        assert outcomes == ["interrupted", "sent"]
        ws.close()


def test_no_secret_value_reaches_a_notification_the_ledger_or_a_log(tmp_path: Path) -> None:
    smtp_password = "Smtp-Secret-6c1e9f"
    hook_token = "Hook+Token/4d7a2b"
    dead_token = "Dead-Channel-Key-93e0"
    env = {"FD_SMTP_PASSWORD": smtp_password, "FD_HOOK_TOKEN": hook_token, "FD_DEAD_TOKEN": dead_token}
    with SmtpServer(smtp_password) as smtp, HttpReceiver() as hook:
        quoted = "${env:FD_HOOK_TOKEN}"
        root = make_project(tmp_path / "project", f"""
            alerts:
              channels:
                mail:
                  type: email
                  url: "mailto://flowdeck:${{env:FD_SMTP_PASSWORD}}@127.0.0.1:{smtp.port}?mode=insecure&from=f@example.com&to=o@example.com"
                hook:
                  type: webhook
                  url: "json://127.0.0.1:{hook.port}/in?+X-Token={quoted}"
                dead:
                  type: webhook
                  url: "json://user:${{env:FD_DEAD_TOKEN}}@127.0.0.1:9/unreachable"
              routes:
                - channels: [mail, hook, dead]
              retry: {{initial: 0.1s}}
            """)
        make_failing(root)
        outputs = [flowdeck(root, "run", "orders", env=env), flowdeck(root, "alerts", "test", "dead", env=env),
                   flowdeck(root, "alerts", "send", env=env), flowdeck(root, "alerts", "--all", "--json", env=env),
                   flowdeck(root, "show", "last", "--json", env=env)]
        assert len(smtp.messages) == 1 and len(hook.accepted()) == 1
        assert [headers.get("X-Token") for headers, _, _ in hook.requests] == [hook_token]  # it was used, as a header
        ws = Workspace.open(root)
        failures = [n.last_error for n in ws.notifications(states=("pending", "failed"))]
        assert failures and all(failures)  # the dead channel's errors are recorded (masked)
        ws.close()

        blobs = [*smtp.messages, *(body for _, body, _ in hook.requests)]
        blobs += [(out.stdout + out.stderr).encode() for out in outputs]
        blobs += [path.read_bytes() for path in (root / ".flowdeck").rglob("*") if path.is_file()
                  and path.suffix != ".duckdb"]
        for secret in (smtp_password, hook_token, dead_token):
            for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
                leaks = [index for index, blob in enumerate(blobs) if form.encode() in blob]
                assert not leaks, f"{form!r} found in outputs {leaks}"
