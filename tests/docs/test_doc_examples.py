"""Every shell example of the documentation runs, as written, on a copy of the example project.

Each page's ``sh`` blocks run in order, each block in its own subshell starting at the project
folder (what a block changes on disk stays; its `cd` and `export` do not). The project has a
history first (see ``prepared_example``), so examples about runs, versions and alerts have
something to act on. Placeholders of the docs are replaced by real values:

- a run id (``20261127-104512-3fa9c2`` or a prefix of one): the failed run after ``--resume``,
  an older successful run after ``--to`` (a rollback), else the current successful run;
- an alert id after ``alerts ack``: the id of the alert the failed run raised;
- ``/var/backups`` and ``/srv``: folders under the test's own temporary folder (``BACKUP=`` of a
  restore: the newest backup there);
- ``http://127.0.0.1:8791``: the address of the daemon the page started (on a free port);
- the channels the pages try (``ops_email``, ``finance_email``): the test's SMTP server on 127.0.0.1.

Each ``text output`` block is then compared with what its command printed (tests/docs/output.py),
the test's folders shown as the page's (``/srv``, ``/var/backups``) and its user as ``you``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from flowdeck.engine.governance.roles import Identity
from tests.conftest import FLOWDECK, REPO_ROOT
from tests.docs.conftest import DOC_PAGES, SMTP_URL_VARIABLE, Mailbox, PreparedProject
from tests.docs.markdown import Block, blocks
from tests.docs.runner import Script, doc_env, failures, output_mismatches, page_steps

RUN_ID = r"\b\d{8}-\d{6}(?:-[0-9a-f]{6})?\b"
OWN_TESTS = {"tutorial.md", "templates.md"}  # the tutorial: test_tutorial.py; templates: below, one project each
PAGES = [page for page in DOC_PAGES if page.name not in OWN_TESTS and page_steps(blocks(page))]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(REPO_ROOT)) for page in PAGES])
def test_every_shell_example_of_the_page_runs(page: Path, example_with_history: PreparedProject, mailbox: Mailbox,
                                              tmp_path: Path) -> None:
    project = example_with_history

    def run_id(match: re.Match[str]) -> str:
        before = match.string[:match.start()]
        if re.search(r"--resume\s+$", before):
            return project.failed_run
        return project.older_run if re.search(r"--to\s+$", before) else project.current_run

    substitutions = [
        (RUN_ID, run_id),
        (r"(alerts ack\s+)[0-9a-f]{8}\b", rf"\g<1>{project.alert_id}"),
        # "the backup to restore" (operations.md): the newest one there
        (r"(?m)^BACKUP=/var/backups/flowdeck/\S+", "BACKUP=$(ls -td /var/backups/flowdeck/*/ | head -n 1)"),
        (r"(?<![\w/])/var/backups\b", str(tmp_path / "var" / "backups")),
        # the daemon's default address: the daemons here listen on a free port, which `status` knows
        (r"http://127\.0\.0\.1:8791", "$(flowdeck status --json | python3 -c 'import json, sys; "
                                         "print(json.load(sys.stdin)[\"daemon\"][\"http\"])')"),
        (r"(?<![\w/])/srv\b", str(tmp_path / "srv")),
    ]
    env = doc_env(tmp_path / "home", **{
        SMTP_URL_VARIABLE: f"mailto://127.0.0.1:{mailbox.port}?from=flowdeck@example.com&to=oncall@example.com",
        # a machine with an OS keyring (a file-backed stand-in from the security tests)
        "PYTHON_KEYRING_BACKEND": "flowdeck_test_keyring.FileBackedKeyring",
        "PYTHONPATH": str(REPO_ROOT / "tests" / "security" / "support"),
        "FLOWDECK_TEST_KEYRING_FILE": str(tmp_path / "keyring.json"),
        "PGPASSWORD": "doc-test-password",
    })
    found = blocks(page)
    script = Script(page_steps(found), project.root, env, substitutions)
    try:
        outcomes = script.run(tmp_path / "script")
    finally:
        stop_problems = script.stop_daemons(str(FLOWDECK), project.root)
    problems = failures(outcomes)
    assert not problems, "\n\n".join(problems)
    shown_otherwise = output_mismatches(found, outcomes, {str(tmp_path / "srv"): "/srv",
                                                         str(tmp_path / "var" / "backups"): "/var/backups",
                                                         Identity.current().user: "you"})
    assert not shown_otherwise, "\n\n".join(shown_otherwise)
    assert script.finished, f"{page.name}: the examples did not run to the end (see {tmp_path / 'script'})"
    assert not stop_problems, stop_problems


TEMPLATES_PAGE = REPO_ROOT / "docs" / "templates.md"


def template_sections() -> dict[str, list[Block]]:
    """templates.md's blocks by the template their section is about (``## `name` ``); "" for the introduction."""
    headings = [(number, match.group(1)) for number, line in enumerate(TEMPLATES_PAGE.read_text().splitlines(), start=1)
                if (match := re.match(r"^## `(\w+)`", line))]
    sections: dict[str, list[Block]] = {"": []}
    for block in blocks(TEMPLATES_PAGE):
        owner = [name for number, name in headings if number < block.line]
        sections.setdefault(owner[-1] if owner else "", []).append(block)
    return sections


@pytest.mark.slow
@pytest.mark.parametrize("template", sorted(template_sections()), ids=lambda name: name or "introduction")
def test_every_template_example_runs_in_a_project_of_its_template(template: str, tmp_path: Path) -> None:
    """templates.md: the examples of a template's section run in a project made from that template, as generated."""
    env = doc_env(tmp_path / "home")
    start = tmp_path / "work"
    start.mkdir()
    if template:
        created = subprocess.run([str(FLOWDECK), "init", str(start / template), "--template", template], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert created.returncode == 0, created.stderr
        start = start / template
    found = template_sections()[template]
    script = Script(page_steps(found), start, env)
    try:
        outcomes = script.run(tmp_path / "script")
    finally:
        stop_problems = script.stop_daemons(str(FLOWDECK), start)
    problems = failures(outcomes)
    assert not problems, "\n\n".join(problems)
    shown_otherwise = output_mismatches(found, outcomes, {str(tmp_path / "work"): "~", Identity.current().user: "you"})
    assert not shown_otherwise, "\n\n".join(shown_otherwise)
    assert script.finished, f"the examples did not run to the end (see {tmp_path / 'script'})"
    assert not stop_problems, stop_problems
