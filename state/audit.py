"""The audit log's records, its hash chain and its keyed anchors: how entries are linked and how tampering is found.

Each entry's hash covers its own fields and the hash of the entry before it, so changing,
removing or reordering any entry breaks every link after it. That chain alone is unkeyed:
anyone who can write the ledger can recompute it. So the chain is also *anchored*: an anchor
says "the chain through entry E had hash H at time T" and carries an HMAC under the audit
key, which the service user and admins hold and operators do not. Anchors are written in the
ledger by every process holding the key (with its own entries) and, by the daemon, outside
the ledger too. An entry removed at the end (below the newest anchor), a log emptied or
replaced, or an ``audit.pruned`` entry forged to excuse removing the oldest entries is then
found; what no anchor covers yet is reported as unproven, never as intact.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowdeck.state.records import iso

GENESIS = ""
PRUNED = "audit.pruned"
IN_LEDGER = "the ledger"


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


@dataclass(frozen=True)
class AuditAnchor:
    """"The chain through ``entry_id`` had ``hash`` at ``ts``", sealed with ``mac`` (``None``: written without the key).

    ``where`` names where it was read from (the ledger, the daemon's anchor file), for messages.
    """

    entry_id: int
    hash: str
    ts: float
    mac: str | None
    where: str = IN_LEDGER

    def to_json(self) -> dict[str, Any]:
        """One line of an anchor file."""
        return {"entry_id": self.entry_id, "hash": self.hash, "ts": self.ts, "mac": self.mac}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> AuditAnchor:
        """Read one line of an anchor file (``ValueError`` / ``KeyError`` / ``TypeError`` when it is not one)."""
        mac = data.get("mac")
        return cls(entry_id=int(data["entry_id"]), hash=str(data["hash"]), ts=float(data["ts"]),
                   mac=None if mac is None else str(mac), where=where)

    def sealed_by(self, key: bytes) -> bool:
        """Whether its MAC is the one ``key`` gives (an anchor written without the key never is)."""
        return self.mac is not None and hmac.compare_digest(self.mac, anchor_mac(key, self.entry_id, self.hash, self.ts))


def entry_hash(entry_id: int, ts: float, actor: str, source: str, action: str, target: str | None,
               outcome: str, details_json: str | None, prev_hash: str) -> str:
    """SHA-256 over an entry's canonical form, chained to the previous entry's hash."""
    canonical = json.dumps(
        [entry_id, ts, actor, source, action, target, outcome, details_json, prev_hash],
        separators=(",", ":"), ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def anchor_mac(key: bytes, entry_id: int, hash: str, ts: float) -> str:
    """HMAC-SHA256 under the audit key over an anchor's entry id, chain hash and time."""
    message = json.dumps(["flowdeck-audit-anchor-v1", entry_id, hash, ts], separators=(",", ":"))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


@dataclass
class AuditVerification:
    """The outcome of checking the chain and its anchors: what was found wrong, and what cannot be proven."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    head: str = GENESIS
    first_id: int | None = None
    keyed: bool = False  # whether anchors' MACs were checked (this process holds the audit key)
    anchored_through: int | None = None  # the newest entry an anchor vouches for
    anchored_at: float | None = None
    outside_anchors: int = 0  # anchors read from outside the ledger (the daemon's anchor file)
    unproven: list[str] = field(default_factory=list)  # what this verification cannot prove, in words

    @property
    def intact(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (``flowdeck audit verify --json``)."""
        return {"intact": self.intact, "checked": self.checked, "problems": self.problems, "head": self.head,
                "first_id": self.first_id, "keyed": self.keyed, "anchored_through": self.anchored_through,
                "anchored_at": iso(self.anchored_at), "outside_anchors": self.outside_anchors,
                "unproven": self.unproven}


def link_problems(rows: Sequence[sqlite3.Row], expected_id: int, expected_prev: str) -> list[str]:
    """Every broken link, missing id or changed entry in ``rows`` (in id order), starting from
    the id and previous hash the first row must have."""
    problems: list[str] = []
    for row in rows:
        entry_id = row["entry_id"]
        if entry_id != expected_id:
            problems.append(f"entries {expected_id}..{entry_id - 1} are missing")
        if row["prev_hash"] != expected_prev:
            problems.append(f"entry {entry_id} does not follow the entry before it (chain broken)")
        recomputed = entry_hash(entry_id, row["ts"], row["actor"], row["source"], row["action"], row["target"],
                                row["outcome"], row["details_json"], row["prev_hash"])
        if recomputed != row["hash"]:
            problems.append(f"entry {entry_id} was changed after it was written (its hash does not match)")
        expected_prev = row["hash"]
        expected_id = entry_id + 1
    return problems


def verify_rows(rows: list[sqlite3.Row], anchors: Iterable[AuditAnchor] = (), key: bytes | None = None,
                *, outside: Sequence[str] = ()) -> AuditVerification:
    """Check every link of the chain in ``rows`` (all entries, in id order) against ``anchors``.

    With ``key``, anchors' MACs are checked and an ``audit.pruned`` entry counts only when an
    anchor sealed it; without it, that is reported as unproven. ``outside`` names the places
    outside the ledger anchors were read from (none: the removal of entries together with their
    ledger anchors cannot be detected, and the verification says so).
    """
    result = AuditVerification(keyed=key is not None)
    hashes = {row["entry_id"]: row["hash"] for row in rows}
    last_id = rows[-1]["entry_id"] if rows else 0
    first_id = rows[0]["entry_id"] if rows else None
    result.first_id = first_id
    result.checked = len(rows)
    sealed = _check_anchors(list(anchors), hashes, first_id, last_id, key, result)
    result.outside_anchors = sum(1 for anchor in anchors if anchor.where != IN_LEDGER)
    if rows:
        expected_prev = _expected_start(rows, sealed, key, result)
        result.problems.extend(link_problems(rows, rows[0]["entry_id"], expected_prev))
        result.head = rows[-1]["hash"]
    _say_what_is_unproven(result, last_id, key, outside)
    return result


def _check_anchors(anchors: list[AuditAnchor], hashes: dict[int, str], first_id: int | None, last_id: int,
                   key: bytes | None, result: AuditVerification) -> list[AuditAnchor]:
    """Check each anchor against the entries; return the ones that vouch for entries still there."""
    sealed: list[AuditAnchor] = []
    beyond: dict[str, AuditAnchor] = {}  # per place, the newest anchor of an entry the log no longer reaches
    for anchor in anchors:
        if key is not None and anchor.mac is not None and not anchor.sealed_by(key):
            result.problems.append(f"an anchor of entry {anchor.entry_id} in {anchor.where} ({iso(anchor.ts)}) "
                                   "does not carry the audit key's seal: it was forged or altered")
            continue
        if key is not None and anchor.mac is None and anchor.where == IN_LEDGER:
            result.problems.append(f"an anchor of entry {anchor.entry_id} in the ledger has no seal: it was forged")
            continue
        if anchor.entry_id in hashes:
            if hashes[anchor.entry_id] != anchor.hash:
                result.problems.append(
                    f"entry {anchor.entry_id} is not the entry {anchor.where} anchored at {iso(anchor.ts)}: "
                    "the log was rewritten or replaced")
            else:
                sealed.append(anchor)
        elif anchor.entry_id > last_id:
            newest = beyond.get(anchor.where)
            if newest is None or anchor.entry_id > newest.entry_id:
                beyond[anchor.where] = anchor
        # an anchor of an entry older than the first one left: retention removed it (checked at the start)
    for anchor in beyond.values():
        if last_id == 0:
            result.problems.append(
                f"the audit log is empty, but {anchor.where} anchored {anchor.entry_id} entries at "
                f"{iso(anchor.ts)}: the log (or the whole ledger) was removed or replaced")
        else:
            result.problems.append(
                f"entries {last_id + 1}..{anchor.entry_id} are missing: {anchor.where} anchored entry "
                f"{anchor.entry_id} at {iso(anchor.ts)}, so the newest entries were removed")
    if sealed:
        newest = max(sealed, key=lambda anchor: anchor.entry_id)
        result.anchored_through, result.anchored_at = newest.entry_id, newest.ts
    return sealed


def _expected_start(rows: list[sqlite3.Row], sealed: list[AuditAnchor], key: bytes | None,
                    result: AuditVerification) -> str:
    """The prev_hash the first remaining entry must carry: the genesis, or the anchor of the last prune.

    With the key, the prune entry counts only when an anchor sealed it (an entry at or after it);
    anyone can write an unkeyed ``audit.pruned`` entry to excuse removing the oldest entries.
    """
    first_id = rows[0]["entry_id"]
    if first_id == 1:
        return GENESIS
    for row in reversed(rows):
        if row["action"] != PRUNED:
            continue
        details = json.loads(row["details_json"] or "{}")
        if details.get("through") != first_id - 1:
            break
        if key is not None and not any(anchor.entry_id >= row["entry_id"] for anchor in sealed):
            result.problems.append(
                f"entries 1..{first_id - 1} are missing and entry {row['entry_id']} ({PRUNED}), which says retention "
                "removed them, is not sealed with the audit key: it may have been forged to hide the removal")
        return str(details.get("anchor", ""))
    result.problems.append(f"entries 1..{first_id - 1} are missing and no retention run removed them")
    prev_hash: str = rows[0]["prev_hash"]
    return prev_hash


def _say_what_is_unproven(result: AuditVerification, last_id: int, key: bytes | None, outside: Sequence[str]) -> None:
    """Say plainly what this verification could not establish."""
    unproven = result.unproven
    if key is None:
        unproven.append("anchors' seals were not checked: this process does not hold the audit key (the master key "
                        "of the service user and admins), so a forged anchor or audit.pruned entry would not be noticed")
    if not outside:
        unproven.append("no anchor outside the ledger was read (the daemon writes them): entries removed together "
                        "with their anchors in the ledger, or a ledger replaced whole, would not be noticed")
    if result.anchored_through is None:
        if last_id:
            unproven.append(f"no entry is anchored yet: removing any of the {last_id} entries from the end would not "
                            "be noticed")
    elif result.anchored_through < last_id:
        unproven.append(f"entries {result.anchored_through + 1}..{last_id} are newer than the newest anchor: "
                        "their removal would not be noticed")
    unproven.append("entries are as true as the OS identity of the process that wrote them: someone who can write "
                    "the ledger can add entries, though not remove or change anchored ones unnoticed")


def segment_problems(db: sqlite3.Connection, after: AuditAnchor | None, *, allow_pruned: int | None = None) -> list[str]:
    """What keeps the entries after anchor ``after`` (all entries when ``None``) from being anchored now.

    The anchored entry must still be there unchanged (or have been removed by retention), the
    entries after it must link to it and to each other, and none of them may be an
    ``audit.pruned`` entry (a key holder's prune is anchored in its own transaction, so one
    waiting here was written without the key), except ``allow_pruned``, the prune being
    anchored by its own writer.
    """
    if after is None:  # the first anchor: it vouches for the history as found, prunes included
        return verify_rows(db.execute("SELECT * FROM audit_log ORDER BY entry_id").fetchall()).problems
    row = db.execute("SELECT hash FROM audit_log WHERE entry_id = ?", (after.entry_id,)).fetchone()
    if row is not None and row[0] == after.hash:
        rows = db.execute("SELECT * FROM audit_log WHERE entry_id > ? ORDER BY entry_id", (after.entry_id,)).fetchall()
        problems = link_problems(rows, after.entry_id + 1, after.hash)
    else:
        first = db.execute("SELECT MIN(entry_id) FROM audit_log").fetchone()[0]
        if row is not None or first is None or after.entry_id >= first:
            return [f"entry {after.entry_id}, anchored at {iso(after.ts)}, is gone or changed"]
        # retention removed the anchored entry: check the chain as retention left it
        problems = verify_rows(db.execute("SELECT * FROM audit_log ORDER BY entry_id").fetchall()).problems
        rows = db.execute("SELECT * FROM audit_log WHERE entry_id > ? AND action = ? ORDER BY entry_id",
                          (after.entry_id, PRUNED)).fetchall()
    for row in rows:
        if row["action"] == PRUNED and row["entry_id"] != allow_pruned:
            problems.append(f"entry {row['entry_id']} ({PRUNED}) was written without the audit key")
    return problems
