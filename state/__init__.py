"""The SQLite run ledger: its schema, its migrations, and the only code that writes it.

Nothing here imports the rest of flowdeck; the engine records through ``Ledger``.
"""

from state.audit import AuditRecord, AuditVerification
from state.ledger import Ledger, LedgerError
from state.records import (
    CheckRecord,
    DaemonLease,
    EventRecord,
    LineageRecord,
    RunRecord,
    RunStatus,
    ScheduleTick,
    StepRecord,
    StepStatus,
)

__all__ = [
    "AuditRecord",
    "AuditVerification",
    "LineageRecord",
    "CheckRecord",
    "DaemonLease",
    "EventRecord",
    "Ledger",
    "LedgerError",
    "RunRecord",
    "RunStatus",
    "ScheduleTick",
    "StepRecord",
    "StepStatus",
]
