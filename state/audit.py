"""The audit log's records and its hash chain: how entries are linked and how tampering is found.

Each entry's hash covers its own fields and the hash of the entry before it, so changing,
removing or reordering any entry breaks every link after it. Retention may remove the oldest
entries; it then appends an ``audit.pruned`` entry naming the last removed entry and its hash
(the new anchor), so removing entries any other way is still detected. A chain can be
rewritten whole by someone who recomputes every hash: keep the head hash (printed by
``flowdeck audit verify``) somewhere else to detect that too.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from flowdeck.state.records import iso

GENESIS = ""
PRUNED = "audit.pruned"


@dataclass(frozen=True)
class AuditRecord:
    """One audit entry: who did what, from where, to what, when, and how it ended."""

    entry_id: int
    ts: float
    actor: str
    source: str
    action: str
    target: str | None
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AuditRecord:
        """Build from an ``audit_log`` row."""
        return cls(
            entry_id=row["entry_id"], ts=row["ts"], actor=row["actor"], source=row["source"], action=row["action"],
            target=row["target"], outcome=row["outcome"],
            details=json.loads(row["details_json"]) if row["details_json"] else {},
            prev_hash=row["prev_hash"], hash=row["hash"],
        )

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (``flowdeck audit --json``)."""
        return {
            "id": self.entry_id, "ts": iso(self.ts), "actor": self.actor, "source": self.source,
            "action": self.action, "target": self.target, "outcome": self.outcome, "details": self.details,
            "prev_hash": self.prev_hash, "hash": self.hash,
        }


def entry_hash(entry_id: int, ts: float, actor: str, source: str, action: str, target: str | None,
               outcome: str, details_json: str | None, prev_hash: str) -> str:
    """SHA-256 over an entry's canonical form, chained to the previous entry's hash."""
    canonical = json.dumps(
        [entry_id, ts, actor, source, action, target, outcome, details_json, prev_hash],
        separators=(",", ":"), ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class AuditVerification:
    """The outcome of checking the chain: entries checked, problems found, the head hash."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    head: str = GENESIS
    first_id: int | None = None

    @property
    def intact(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (``flowdeck audit verify --json``)."""
        return {"intact": self.intact, "checked": self.checked, "problems": self.problems, "head": self.head,
                "first_id": self.first_id}


def verify_rows(rows: list[sqlite3.Row]) -> AuditVerification:
    """Check every link of the chain in ``rows`` (all entries, in id order)."""
    result = AuditVerification()
    if not rows:
        return result
    result.first_id = rows[0]["entry_id"]
    expected_prev = _expected_start(rows, result)
    expected_id = rows[0]["entry_id"]
    for row in rows:
        result.checked += 1
        entry_id = row["entry_id"]
        if entry_id != expected_id:
            result.problems.append(f"entries {expected_id}..{entry_id - 1} are missing")
        if row["prev_hash"] != expected_prev:
            result.problems.append(f"entry {entry_id} does not follow the entry before it (chain broken)")
        recomputed = entry_hash(entry_id, row["ts"], row["actor"], row["source"], row["action"], row["target"],
                                row["outcome"], row["details_json"], row["prev_hash"])
        if recomputed != row["hash"]:
            result.problems.append(f"entry {entry_id} was changed after it was written (its hash does not match)")
        expected_prev = row["hash"]
        expected_id = entry_id + 1
    result.head = rows[-1]["hash"]
    return result


def _expected_start(rows: list[sqlite3.Row], result: AuditVerification) -> str:
    """The prev_hash the first remaining entry must carry: the genesis, or the anchor of the last prune."""
    first_id = rows[0]["entry_id"]
    if first_id == 1:
        return GENESIS
    for row in reversed(rows):
        if row["action"] != PRUNED:
            continue
        details = json.loads(row["details_json"] or "{}")
        if details.get("through") == first_id - 1:
            return str(details.get("anchor", ""))
        break
    result.problems.append(f"entries 1..{first_id - 1} are missing and no retention run removed them")
    prev_hash: str = rows[0]["prev_hash"]
    return prev_hash
