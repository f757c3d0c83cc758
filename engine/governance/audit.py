"""Recording what people do: one audit entry per action, with its outcome, through the ledger; and
the anchors that make removing entries detectable.

Sources say where an action came from; actions name what was done. Values are masked by
the ledger's redactor before they are written, and a secret's value is never passed here.

The audit key (derived from the master key, so the service user and admins hold it and
operators do not) seals anchors of the chain in the ledger. The daemon, running as the service
user, also appends each anchor to ``logs/audit-anchors.jsonl`` and to its log, outside what
operators can rewrite; ``flowdeck audit verify`` reads that file back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.engine.errors import FlowdeckError, Forbidden
from flowdeck.engine.governance.refusals import collect_refusals, leave_refusal
from flowdeck.state import AuditVerification, Ledger
from flowdeck.state.audit import AuditAnchor
from flowdeck.state.ledger import LedgerReadOnly
from flowdeck.state.records import iso

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project

SOURCES = ("cli", "console", "daemon", "http", "web")  # web: a console session in a browser
# run, cancel, resume, rollback, edit, secret.set, secret.delete, schedule.change, login, prune, audit.pruned
ANCHOR_FILE = "audit-anchors.jsonl"
ANCHOR_FILE_WHERE = "the daemon's anchor file"
ANCHOR_EVERY_SECONDS = 1.0
log = logging.getLogger("flowdeck.audit")


@contextmanager
def audited(ledger: Ledger, *, actor: str, source: str, action: str, target: str | None,
            details: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Record ``action`` once it ends: ``ok``, ``denied`` (a role refused it) or ``failed`` (with the error).

    The body may add to the yielded ``details`` (e.g. the id of the run it queued).
    """
    extra: dict[str, Any] = dict(details or {})
    try:
        yield extra
    except Forbidden:
        try:
            ledger.append_audit(actor=actor, source=source, action=action, target=target, outcome="denied",
                                details=extra or None)
        except LedgerReadOnly:  # a viewer who may only read the ledger: left for the service user to audit
            if not leave_refusal(ledger.path.parent, source=source, action=action, target=target, details=extra or None):
                log.warning("not audited: %s was refused %s (%s); this user cannot write the ledger", actor, action,
                            target)
        raise  # the refusal stands either way (exit 3)
    except FlowdeckError as error:
        ledger.append_audit(actor=actor, source=source, action=action, target=target, outcome="failed",
                            details={**extra, "error": error.what})
        raise
    ledger.append_audit(actor=actor, source=source, action=action, target=target, outcome="ok", details=extra or None)


def audit_key() -> bytes | None:
    """The key that seals the audit chain's anchors, derived from the master key; ``None`` without one.

    Whoever holds the master key (the service user, admins) seals; operators, who never see it,
    cannot forge a seal.
    """
    from flowdeck.engine.secrets.store import master_key

    try:
        key = master_key()
    except FlowdeckError:  # a master key too short to use: unsealed, as without one
        return None
    if key is None:
        return None
    return hmac.new(key.encode(), b"flowdeck audit anchors v1", hashlib.sha256).digest()


def anchor_file(project: Project) -> Path:
    """Where the daemon appends the anchors of the audit chain."""
    return project.logs_dir / ANCHOR_FILE


def read_anchor_file(path: Path) -> tuple[list[AuditAnchor], list[str]]:
    """The anchors in ``path`` and the problems reading it (a damaged line is a problem, not a crash)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [], []
    except OSError as error:
        return [], [f"cannot read {ANCHOR_FILE_WHERE} {path}: {error.strerror or error}"]
    anchors: list[AuditAnchor] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            anchors.append(AuditAnchor.from_json(json.loads(line), ANCHOR_FILE_WHERE))
        except (ValueError, KeyError, TypeError):
            problems.append(f"line {number} of {ANCHOR_FILE_WHERE} {path} is not an anchor (the file was edited)")
    return anchors, problems


def verify_audit(project: Project, ledger: Ledger) -> AuditVerification:
    """Check the audit chain against its anchors in the ledger and in the daemon's anchor file."""
    path = anchor_file(project)
    anchors, problems = read_anchor_file(path)
    outside = [f"{ANCHOR_FILE_WHERE} {path}"] if anchors or problems else []
    result = ledger.verify_audit(anchors, outside=outside)
    result.problems[:0] = problems
    return result


class AuditAnchoring:
    """The daemon's part that anchors the audit chain as it grows, outside the ledger and in it.

    Every turn of the daemon's loop it looks at the chain's head; when the head moved, it checks
    that the new entries link to the last anchor, seals them in the ledger (with the audit key),
    and appends the anchor to the anchor file and the daemon's log. A chain that does not link
    up is never anchored: the problem is logged at error level, once.
    """

    def __init__(self, ledger: Ledger, path: Path) -> None:
        self.ledger = ledger
        self.path = path
        anchors, _ = read_anchor_file(path)
        self.last: AuditAnchor | None = anchors[-1] if anchors else None
        self.problems: list[str] = []
        self._checked_at = 0.0

    def report(self) -> dict[str, Any]:
        """What /status and the lease say about it."""
        return {"anchored_through": self.last.entry_id if self.last else None,
                "anchored_at": iso(self.last.ts) if self.last else None,
                "sealed": self.ledger.holds_audit_key, "problems": self.problems}

    def poll(self, *, now: bool = False) -> None:
        """Anchor the chain if it grew since the last anchor (at most once a second, unless ``now``)."""
        moment = time.monotonic()
        if not now and moment - self._checked_at < ANCHOR_EVERY_SECONDS:
            return
        self._checked_at = moment
        collect_refusals(self.ledger, self.ledger.path.parent)  # viewers' refusals join the chain before it is anchored
        head = self.ledger.audit_head()
        if head is None or (self.last is not None and (self.last.entry_id, self.last.hash) == head):
            return
        problems = self.ledger.audit_segment_problems(self.last)
        sealed, unsealable = self.ledger.anchor_audit()
        problems += [problem for problem in unsealable if problem not in problems]
        if problems:
            if problems != self.problems:
                log.error("the audit log was tampered with; not anchoring it: %s (run `flowdeck audit verify`)",
                          "; ".join(problems))
            self.problems = problems
            return
        self.problems = []
        if sealed is not None and (sealed.entry_id, sealed.hash) == head:
            anchor = sealed
        else:  # no audit key here: the file alone (protected by its owner and mode) anchors
            anchor = AuditAnchor(head[0], head[1], time.time(), None)
        self._append(anchor)
        self.last = anchor
        log.info("audit log anchored: entry %d, hash %s", anchor.entry_id, anchor.hash)

    def _append(self, anchor: AuditAnchor) -> None:
        """One JSON line, written whole, flushed to disk; the file only the daemon's user may write."""
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, (json.dumps(anchor.to_json(), separators=(",", ":")) + "\n").encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
