"""One workspace, many threads: the console's workers all reach the ledger as it starts."""

from __future__ import annotations

import threading
from pathlib import Path

from flowdeck.engine.workspace import Workspace
from flowdeck.state import Ledger

THREADS = 8


def test_threads_opening_a_new_ledger_at_once_share_one_connection(project: Path) -> None:
    workspace = Workspace.open(project)  # a fresh project: the first touch creates and migrates the ledger
    start = threading.Barrier(THREADS)
    opened: list[Ledger] = []
    errors: list[BaseException] = []

    def reach_the_ledger() -> None:
        start.wait()
        try:
            opened.append(workspace.ledger)
        except BaseException as error:  # noqa: BLE001 - every failure is the finding
            errors.append(error)

    threads = [threading.Thread(target=reach_the_ledger) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert len(opened) == THREADS and len({id(ledger) for ledger in opened}) == 1
        workspace.record_login()  # and that one connection works
        assert [entry.action for entry in workspace.ledger.audit_entries()][-1] == "login"
    finally:
        workspace.close()
