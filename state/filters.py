"""The WHERE clause of a ledger query, built from the filters a caller gave."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Where:
    """Conditions joined by AND, each with the values for its ``?`` marks, in order."""

    clauses: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def add(self, clause: str, *args: Any) -> None:
        """Require ``clause``, its ``?`` marks bound to ``args``."""
        self.clauses.append(clause)
        self.args.extend(args)

    def sql(self) -> str:
        """``WHERE a AND b``, or nothing when no condition was added."""
        return f"WHERE {' AND '.join(self.clauses)}" if self.clauses else ""
