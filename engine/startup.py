"""Garbage collection held while a flowdeck process starts, for the front ends (the CLI, the detached worker).

Starting a run imports some 300 modules (typer, pydantic and the config models, the ledger, DuckDB) and
builds the configuration's validators: objects that live as long as the process. Python's cyclic
collector scans them again and again as they pile up, in vain: about 0.05 s of CPU of every
`flowdeck run` (one full collection alone took ~0.045 s). So a front end holds collection from its
first line (``hold_collection``) until its command begins its real work (``resume_collection``), which
freezes what exists then (``gc.freeze``: out of the collector's sight for good, at exit too) and
collects as usual from there on, so a long run, the daemon or the console are collected as before.
The few cyclic leftovers of the start (~700 objects) stay in memory. What is frozen is not collected at
exit either, so what the start opened and must close (the ledger: its write-ahead log is checkpointed as
it closes) is closed explicitly by the front end that opened it.
"""

from __future__ import annotations

import gc

_held = False  # only a hold of ours is resumed: a process that turned collection off itself keeps it off


def hold_collection() -> None:
    """Collect no garbage until ``resume_collection``: call it first thing in a front end."""
    global _held
    if gc.isenabled():
        gc.disable()
        _held = True


def resume_collection() -> None:
    """End the hold, if any: what the start created is frozen, then collection resumes. Call it where
    the command's own work begins (a run's execution), at the latest once the command is dispatched."""
    global _held
    if _held:
        _held = False
        gc.freeze()
        gc.enable()
