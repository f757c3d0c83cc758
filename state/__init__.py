"""The SQLite run ledger: its schema, its migrations, and the only code that writes it.

Nothing here imports the rest of flowdeck; the engine records through ``Ledger``. Run and step
statuses are the enums of ``flowdeck.state.status``.
"""

from flowdeck.state.alerting import (
    AlertBook,
    AlertRecord,
    AlertSignal,
    Delivery,
    Notification,
    Silence,
    Transition,
    fingerprint_of,
)
from flowdeck.state.audit import AuditRecord, AuditVerification
from flowdeck.state.following import FollowState, Publish
from flowdeck.state.ledger import Ledger, LedgerError, stored_schema_version
from flowdeck.state.lineage_outbox import LineageEvent
from flowdeck.state.monitoring import (
    ProgressSample,
    ResourceSample,
    StepHistory,
    StepMetrics,
    StepRun,
    StepStatement,
)
from flowdeck.state.records import (
    CheckRecord,
    DaemonLease,
    EventRecord,
    LineageRecord,
    RunOwner,
    RunRecord,
    ScheduleTick,
    StepRecord,
)

__all__ = [
    "AlertBook",
    "AlertRecord",
    "AlertSignal",
    "AuditRecord",
    "AuditVerification",
    "CheckRecord",
    "DaemonLease",
    "Delivery",
    "EventRecord",
    "fingerprint_of",
    "FollowState",
    "Ledger",
    "LedgerError",
    "LineageEvent",
    "LineageRecord",
    "Notification",
    "ProgressSample",
    "Publish",
    "ResourceSample",
    "RunOwner",
    "RunRecord",
    "ScheduleTick",
    "Silence",
    "StepHistory",
    "StepStatement",
    "StepMetrics",
    "StepRun",
    "StepRecord",
    "stored_schema_version",
    "Transition",
]
