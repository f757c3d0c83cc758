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

The same objects make the interpreter's teardown slow: once the exit handlers have run, Python clears
every module and frees what they hold, ~0.02 s of every `flowdeck run` for memory the operating system
takes back at once. So a run's process ends without that teardown (as Instagram's web workers do):
Python's exit runs as ever (non-daemon threads joined, every ``atexit`` handler, logging flushed), then
the process ends with its status. Three calls: the entry point registers the ending first thing
(``end_without_teardown``: its handler, registered first, runs last) and records the status it exits
with (``exit_with``); the command, once it has closed what it opened itself (the ledger: its -wal and
-shm files must go, or a viewer cannot read it; the warehouse: its seal), says so
(``nothing_left_to_close``). Without the last, or without a status (an uncaught error), the process
ends as Python ends it, teardown and all: a command that leaves a file for the teardown to close is not
cut short. A caller of ``console.cli.main.run`` in a process of its own (a test) registers nothing.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys

_held = False  # only a hold of ours is resumed: a process that turned collection off itself keeps it off
_exit_status: int | None = None  # set as the entry point returns; None: Python's own exit, teardown included
_closed = False  # the command closed what it opened: nothing is left for the teardown to close


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


def end_without_teardown() -> None:
    """Have this process end without the interpreter's teardown, once its command has said
    ``nothing_left_to_close`` and its entry point ``exit_with``: call it first thing in a process's entry
    point (its exit handler, registered first, runs last, after every other one)."""
    atexit.register(_end_process)


def nothing_left_to_close() -> None:
    """Said by a command once it has closed every file it opened (its ledger, its warehouse): its process
    may then end without the teardown."""
    global _closed
    _closed = True


def exit_with(code: object) -> None:
    """The status the process ends with, from a ``SystemExit`` code (None 0, a number itself, a message
    1: Python prints the message before the exit handlers run)."""
    global _exit_status
    _exit_status = code if isinstance(code, int) else 0 if code is None else 1


def _end_process() -> None:
    """The last exit handler: flush what is buffered and end, skipping the teardown (only when the command
    closed what it opened and the entry point said how it exits; otherwise Python ends it, as ever)."""
    if _exit_status is None or not _closed:
        return
    if "logging" in sys.modules:  # imported before this handler was registered, its own would come after it
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said on it
            pass
    os._exit(_exit_status & 0xFF)
