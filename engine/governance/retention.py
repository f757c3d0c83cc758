"""Retention: removing what the project's policies no longer keep, and saying what was removed.

``prune`` is the one function: ``flowdeck prune`` calls it (through ``Workspace.prune``) and
the daemon calls it daily. Audit entries are kept longest (the configuration refuses an
audit period shorter than the others) and leave the chain with a recorded anchor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flowdeck.engine.run.tempfiles import sweep
from flowdeck.state.records import iso
from flowdeck.state.status import RUN_LIVE

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project
    from flowdeck.state import Ledger


@dataclass
class PruneReport:
    """What a prune removed (or, in a dry run, would remove), and the cutoffs it used."""

    dry_run: bool
    removed: dict[str, int] = field(default_factory=dict)
    cutoffs: dict[str, str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was kept against the policy, and why

    @property
    def total(self) -> int:
        """Rows and folders removed, all kinds together."""
        return sum(self.removed.values())

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (``flowdeck prune --json``)."""
        return {"dry_run": self.dry_run, "removed": self.removed, "cutoffs": self.cutoffs, "notes": self.notes}


def prune(project: Project, ledger: Ledger, *, dry_run: bool = False, now: float | None = None) -> PruneReport:
    """Apply the project's retention policies to the ledger and the temporary folders."""
    policy = project.config.retention
    now = time.time() if now is None else now

    def cutoff(age: timedelta | None) -> float | None:
        return None if age is None else now - age.total_seconds()

    cutoffs = {"runs": cutoff(policy.runs), "events": cutoff(policy.events), "audit": cutoff(policy.audit),
               "lineage": cutoff(policy.file_records)}
    notes: list[str] = []
    if cutoffs["audit"] is not None and ledger.audit_anchored() and not ledger.holds_audit_key:
        # an unsealed audit.pruned entry cannot be told from one forged to hide removed entries
        cutoffs["audit"] = None
        notes.append("audit entries kept: removing them needs the audit key (the master key); the daemon, or an "
                     "admin with FLOWDECK_MASTER_KEY set, prunes them")
    removed = ledger.prune(runs_before=cutoffs["runs"], events_before=cutoffs["events"],
                           audit_before=cutoffs["audit"], lineage_before=cutoffs["lineage"], dry_run=dry_run)
    live = [run.run_id for run in ledger.runs_in_status(*RUN_LIVE)]
    removed["temp_dirs"] = len(sweep(project.temp_dir, live, dry_run=dry_run))
    return PruneReport(dry_run=dry_run, removed=removed, cutoffs={name: iso(value) for name, value in cutoffs.items()},
                       notes=notes)
