"""Finding a run from what a person types: its id, a unique prefix of it, or ``last``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from flowdeck.engine.errors import NotFound
from flowdeck.state import Ledger, RunRecord

T = TypeVar("T")


def find_run(ledger: Ledger, ref: str, project_root: Path) -> RunRecord:
    """A run from its id, a unique prefix of it, or ``last``; else a ``NotFound`` saying what to type."""
    if ref == "last":
        runs = ledger.list_runs(limit=1)
        if not runs:
            raise NotFound("there are no runs yet", hint="start one with `flowdeck run PIPELINE`")
        return runs[0]
    exact = ledger.get_run(ref)
    if exact is not None:
        return exact
    return only_match(ref, ledger.find_runs(ref), noun="run", named=lambda run: run.run_id,
                      missing=f"no run with id {ref} in the ledger of this project ({project_root})",
                      missing_hint="list runs with `flowdeck runs`, or `last` for the latest; "
                                   "is --project the right one?")


def only_match(ref: str, matches: list[T], *, noun: str, missing: str, missing_hint: str,
               named: Callable[[T], str] | None = None) -> T:
    """The one thing an id prefix ``ref`` matches; else a ``NotFound`` saying none does, or naming
    (with ``named``) some of those it matches."""
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(missing, hint=missing_hint)
    some = f": {', '.join(named(match) for match in matches[:3])}" if named else ""
    raise NotFound(f"{ref} matches {len(matches)} {noun}s{some}", hint=f"give more of the {noun} id")
