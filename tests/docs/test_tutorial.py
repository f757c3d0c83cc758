"""The tutorial, followed from start to end as a reader would: one shell, in an empty folder, in order.

Its files are written where it says, its commands run as written, and each ends as the page
says (the failures it shows on purpose end with the exit code it names); each output it shows is
what its command printed (tests/docs/output.py: times, ids and durations aside; the reader's
folder is ``/home/you`` and they are the user ``you``). The only placeholder is the mail relay:
``localhost:25`` becomes the test's SMTP server on 127.0.0.1, which must receive the test mail,
the alert, and its resolution.
"""

from __future__ import annotations

import time
from pathlib import Path

from flowdeck.engine.governance.roles import Identity

import pytest

from tests.conftest import FLOWDECK, REPO_ROOT
from tests.docs.conftest import Mailbox
from tests.docs.markdown import blocks
from tests.docs.runner import Script, doc_env, failures, output_mismatches, page_steps

TUTORIAL = REPO_ROOT / "docs" / "tutorial.md"


@pytest.mark.slow
def test_the_tutorial_runs_from_an_empty_folder_to_an_alert_and_its_resolution(mailbox: Mailbox,
                                                                                tmp_path: Path) -> None:
    start = tmp_path / "work"
    start.mkdir()
    page = blocks(TUTORIAL)
    script = Script(page_steps(page), start, doc_env(tmp_path / "home"),
                    substitutions=[(r"\blocalhost:25\b", f"localhost:{mailbox.port}")], each_block_apart=False)
    try:
        outcomes = script.run(tmp_path / "script")
        problems = failures(outcomes)
        assert not problems, "\n\n".join(problems)
        shown_otherwise = output_mismatches(page, outcomes, {str(start): "/home/you", Identity.current().user: "you"})
        assert not shown_otherwise, "\n\n".join(shown_otherwise)
        assert script.finished, f"the tutorial did not run to the end (see {tmp_path / 'script'})"
        assert script.daemons, "the tutorial starts the daemon"
        deadline = time.monotonic() + 60  # the daemon delivers the outbox about every second
        while time.monotonic() < deadline and not any("RESOLVED" in subject for subject in mailbox.subjects()):
            time.sleep(0.2)
    finally:
        stop_problems = script.stop_daemons(str(FLOWDECK), start / "shop")
    subjects = mailbox.subjects()
    assert any("test" in subject.lower() for subject in subjects), subjects
    firing = [subject for subject in subjects if "FIRING" in subject and "orders" in subject]
    assert firing and "raw_orders" in firing[0], subjects
    assert any("RESOLVED" in subject and "orders" in subject for subject in subjects), subjects
    assert not stop_problems, stop_problems
    # what the reader is promised at the end: the December file is read along with November's
    totals = [outcome.output for outcome in outcomes if outcome.command.text == 'flowdeck query "SELECT * FROM daily_revenue"']
    assert totals and "2026-11-02" in totals[-1] and "2026-12-01" in totals[-1], totals
    assert [command.text for command, _ in script.skipped] == ["flowdeck console"]
