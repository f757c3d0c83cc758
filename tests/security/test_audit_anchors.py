"""Removing audit entries at either end, or the whole log, is found: the chain is sealed with the audit
key (the master key's, which operators never hold) and the daemon anchors it outside the ledger.

Each test does what someone with write access to the ledger (an operator) would do with
sqlite3, then runs `flowdeck audit verify` as a separate process.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from security_helpers import MASTER_KEY, cli

from flowdeck.engine.workspace import Workspace
from flowdeck.state.audit import entry_hash
from tests.daemon.daemonkit import Daemon, wait_for

WITH_KEY = {"FLOWDECK_MASTER_KEY": MASTER_KEY}


def _ledger(project: Path) -> Path:
    return project / ".flowdeck" / "ledger.sqlite"


def _actions(project: Path, count: int, monkeypatch: pytest.MonkeyPatch, *, key: bool) -> None:
    """``count`` audited actions by a process that holds the audit key (an admin) or not (an operator)."""
    if key:
        monkeypatch.setenv("FLOWDECK_MASTER_KEY", MASTER_KEY)
    else:
        monkeypatch.delenv("FLOWDECK_MASTER_KEY", raising=False)
    workspace = Workspace.open(project)
    for number in range(count):
        workspace.audit("schedule.change", f"daily_sales#{number}", details={"enabled": number % 2 == 0})
    workspace.close()
    monkeypatch.delenv("FLOWDECK_MASTER_KEY", raising=False)


def _verify(project: Path, *, key: bool, check: int) -> dict[str, object]:
    return json.loads(cli(project, "audit", "verify", "--json", env=WITH_KEY if key else None, check=check).stdout)


def _forge_prune(project: Path, *, through: int) -> None:
    """Remove entries 1..through and append an audit.pruned entry excusing it, hashed exactly as flowdeck hashes."""
    with sqlite3.connect(_ledger(project)) as db:
        anchor = db.execute("SELECT hash FROM audit_log WHERE entry_id = ?", (through,)).fetchone()[0]
        db.execute("UPDATE audit_gate SET open = 1")  # the delete guard is a table: anyone who can write flips it
        db.execute("DELETE FROM audit_log WHERE entry_id <= ?", (through,))
        db.execute("UPDATE audit_gate SET open = 0")
        entry_id, prev = db.execute("SELECT entry_id + 0, hash FROM audit_log ORDER BY entry_id DESC LIMIT 1").fetchone()
        entry_id += 1
        details = json.dumps({"anchor": anchor, "removed": through, "through": through}, sort_keys=True)
        ts = 1.0e9
        digest = entry_hash(entry_id, ts, "flowdeck", "retention", "audit.pruned", "audit_log", "ok", details, prev)
        db.execute("INSERT INTO audit_log (entry_id, ts, actor, source, action, target, outcome, details_json, "
                   "prev_hash, hash) VALUES (?, ?, 'flowdeck', 'retention', 'audit.pruned', 'audit_log', 'ok', ?, ?, ?)",
                   (entry_id, ts, details, prev, digest))


def test_removing_the_oldest_entries_behind_a_forged_prune_entry_is_found(project: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _actions(project, 4, monkeypatch, key=True)
    _forge_prune(project, through=2)
    verdict = _verify(project, key=True, check=1)
    assert verdict["intact"] is False
    assert any("entries 1..2 are missing and entry 5 (audit.pruned)" in problem and "not sealed with the audit key"
               in problem for problem in verdict["problems"]), verdict


def test_forging_the_prune_entry_and_dropping_every_anchor_in_the_ledger_is_still_found(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _actions(project, 4, monkeypatch, key=True)
    _forge_prune(project, through=2)
    with sqlite3.connect(_ledger(project)) as db:
        db.execute("DELETE FROM audit_anchors")
    assert "may have been forged to hide the removal" in " ".join(_verify(project, key=True, check=1)["problems"])


def test_an_anchor_forged_without_the_key_is_found(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _actions(project, 3, monkeypatch, key=True)
    with sqlite3.connect(_ledger(project)) as db:
        db.execute("INSERT INTO audit_anchors (entry_id, hash, ts, mac) SELECT entry_id, hash, 1.0e9, 'f00d' "
                   "FROM audit_log WHERE entry_id = 3")
    problems = _verify(project, key=True, check=1)["problems"]
    assert any("does not carry the audit key's seal" in problem for problem in problems), problems


def test_removing_the_newest_entries_is_found_by_the_anchors_in_the_ledger(project: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _actions(project, 5, monkeypatch, key=True)
    with sqlite3.connect(_ledger(project)) as db:
        db.execute("UPDATE audit_gate SET open = 1")
        db.execute("DELETE FROM audit_log WHERE entry_id >= 4")
    verdict = _verify(project, key=False, check=1)  # an operator (no key) still sees the hole
    assert "entries 4..5 are missing: the ledger anchored entry 5" in " ".join(verdict["problems"]), verdict


def test_prune_without_the_audit_key_keeps_sealed_audit_entries(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _actions(project, 2, monkeypatch, key=True)
    project.joinpath("flowdeck.yaml").write_text(project.joinpath("flowdeck.yaml").read_text()
                                                 + "retention: {runs: 1s, events: 1s, file_records: 1s, audit: 1s}\n")
    import time

    time.sleep(1.2)
    result = cli(project, "prune", check=0)  # an admin without FLOWDECK_MASTER_KEY
    assert "audit entries kept: removing them needs the audit key" in result.stderr
    assert [row[0] for row in sqlite3.connect(_ledger(project)).execute("SELECT entry_id FROM audit_log")][:2] == [1, 2]
    keyed = cli(project, "prune", "--json", env=WITH_KEY, check=0)
    assert json.loads(keyed.stdout)["removed"]["audit"] >= 2
    assert _verify(project, key=True, check=0)["intact"] is True


# -- the daemon's anchors, outside the ledger ---------------------------------------------------------------


@pytest.fixture
def anchored(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Operators (no key) act; the daemon (the service user, with the master key) anchors their entries and stops."""
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + "daemon:\n  http: {port: 0}\n")
    _actions(project, 3, monkeypatch, key=False)
    monkeypatch.setenv("FLOWDECK_MASTER_KEY", MASTER_KEY)
    daemon = Daemon(project)
    monkeypatch.delenv("FLOWDECK_MASTER_KEY")
    try:
        daemon.address()
        anchors = project / ".flowdeck" / "logs" / "audit-anchors.jsonl"
        wait_for(lambda: anchors.exists() and '"entry_id":3' in anchors.read_text(), 30,
                 what="the daemon anchoring entry 3", alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    log = (project / ".flowdeck" / "logs" / "daemon.log").read_text()
    assert "audit log anchored: entry 3" in log
    assert _verify(project, key=False, check=0)["anchored_through"] == 3
    return project


def test_removing_the_newest_entries_and_their_ledger_anchors_is_found_by_the_daemons_anchors(anchored: Path) -> None:
    with sqlite3.connect(_ledger(anchored)) as db:
        db.execute("UPDATE audit_gate SET open = 1")
        db.execute("DELETE FROM audit_log WHERE entry_id >= 2")
        db.execute("DELETE FROM audit_anchors")
        db.execute("UPDATE sqlite_sequence SET seq = 1 WHERE name = 'audit_log'")
    verdict = _verify(anchored, key=False, check=1)
    assert "entries 2..3 are missing: the daemon's anchor file anchored entry 3" in " ".join(verdict["problems"])


def test_emptying_the_audit_log_is_found(anchored: Path) -> None:
    with sqlite3.connect(_ledger(anchored)) as db:
        db.execute("DROP TRIGGER audit_log_refuses_delete")
        db.execute("DELETE FROM audit_log")
        db.execute("DELETE FROM audit_anchors")
        db.execute("DELETE FROM sqlite_sequence WHERE name = 'audit_log'")
    problems = " ".join(_verify(anchored, key=False, check=1)["problems"])
    assert "the audit log is empty, but the daemon's anchor file anchored 3 entries" in problems


def test_removing_the_whole_ledger_is_found(anchored: Path) -> None:
    for path in anchored.joinpath(".flowdeck").glob("ledger.sqlite*"):
        path.unlink()
    result = cli(anchored, "audit", "verify", check=1)
    assert "the log (or the whole ledger) was removed or replaced" in result.stdout


def test_rewriting_the_whole_chain_is_found(anchored: Path) -> None:
    with sqlite3.connect(_ledger(anchored)) as db:  # recompute every hash with another actor
        db.execute("DROP TRIGGER audit_log_refuses_update")
        prev = ""
        for entry_id, ts, source, action, target, outcome, details in db.execute(
                "SELECT entry_id, ts, source, action, target, outcome, details_json FROM audit_log ORDER BY entry_id"
        ).fetchall():
            digest = entry_hash(entry_id, ts, "mallory", source, action, target, outcome, details, prev)
            db.execute("UPDATE audit_log SET actor = 'mallory', prev_hash = ?, hash = ? WHERE entry_id = ?",
                       (prev, digest, entry_id))
            prev = digest
        db.execute("DELETE FROM audit_anchors")
    problems = " ".join(_verify(anchored, key=False, check=1)["problems"])
    assert "entry 3 is not the entry the daemon's anchor file anchored" in problems


def test_the_daemon_refuses_to_anchor_a_tampered_log_and_says_so(anchored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with sqlite3.connect(_ledger(anchored)) as db:
        db.execute("UPDATE audit_gate SET open = 1")
        db.execute("DELETE FROM audit_log WHERE entry_id = 3")
        db.execute("UPDATE sqlite_sequence SET seq = 2 WHERE name = 'audit_log'")
    _actions(anchored, 1, monkeypatch, key=False)  # a new entry 3 links to entry 2: the chain alone looks fine
    monkeypatch.setenv("FLOWDECK_MASTER_KEY", MASTER_KEY)
    daemon = Daemon(anchored)
    monkeypatch.delenv("FLOWDECK_MASTER_KEY")
    log = anchored / ".flowdeck" / "logs" / "daemon.log"
    try:
        daemon.address()
        wait_for(lambda: "the audit log was tampered with" in log.read_text(), 30,
                 what="the daemon noticing the tampered audit log", alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    assert "entry 3, anchored at" in log.read_text()
    anchors = (anchored / ".flowdeck" / "logs" / "audit-anchors.jsonl").read_text().splitlines()
    assert len(anchors) == 1  # nothing anchored over the hole
    assert "entry 3 is not the entry the daemon's anchor file anchored" in " ".join(
        _verify(anchored, key=False, check=1)["problems"])


def test_verify_says_what_it_cannot_prove(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _actions(project, 2, monkeypatch, key=False)
    result = cli(project, "audit", "verify", check=0)
    assert "audit log intact: 2 entries" in result.stdout
    assert "this process does not hold the audit key" in result.stdout
    assert "no anchor outside the ledger was read" in result.stdout
    assert "no entry is anchored yet" in result.stdout
