"""The SQLite run ledger: its schema, its migrations, and the only code that writes it.

Nothing here imports the rest of flowdeck; the engine records through ``Ledger``.
"""

from state.ledger import Ledger, LedgerError
from state.records import CheckRecord, EventRecord, RunRecord, StepRecord, RunStatus, StepStatus

__all__ = [
    "CheckRecord",
    "EventRecord",
    "Ledger",
    "LedgerError",
    "RunRecord",
    "RunStatus",
    "StepRecord",
    "StepStatus",
]
