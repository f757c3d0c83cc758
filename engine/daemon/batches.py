"""Micro-batches of a file trigger: the files taken since the last batch, until ``max_files`` or ``max_wait``.

A trigger with ``batch: {max_files: N, max_wait: 30s}`` starts one run for the files that
settled together instead of one run a file. A batch is started as soon as it holds
``max_files`` files, and at the latest ``max_wait`` after its oldest file was taken. The window
lives in the daemon's memory only: a daemon that stops or dies with files in it finds them again
by its rescan at start, and a file that already went into a run (its content, by sha256, is in
the ledger) is a duplicate there, so each file is in exactly one run (see ``Watchers``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowdeck.engine.project.config.pipeline import FileBatch


@dataclass(frozen=True)
class TakenFile:
    """A settled, hashed file waiting for its batch."""

    path: Path
    relative: str  # to the project: what the run's options and events name
    sha256: str
    signature: tuple[int, int]  # (size, mtime_ns) when hashed: a file that no longer has it is not this content
    taken_at: float


@dataclass
class BatchWindow:
    """The files of one trigger taken since its last batch started, oldest first."""

    batch: FileBatch
    files: list[TakenFile] = field(default_factory=list)

    def add(self, taken: TakenFile) -> TakenFile | None:
        """Add a file; the file already holding the same content (which keeps its place) instead, if any."""
        for held in self.files:
            if held.sha256 == taken.sha256:
                return held
        self.files.append(taken)
        return None

    def forget(self, path: Path) -> None:
        """Drop a file that changed or vanished before its batch started (its new content is taken anew)."""
        self.files = [held for held in self.files if held.path != path]

    def due(self, now: float) -> list[list[TakenFile]]:
        """Take out the batches to start now: every full one, then the rest once its oldest has waited ``max_wait``."""
        size = self.batch.max_files
        batches = []
        while len(self.files) >= size:
            batches.append(self.files[:size])
            self.files = self.files[size:]
        if self.files and now - self.files[0].taken_at >= self.batch.max_wait.total_seconds():
            batches.append(self.files)
            self.files = []
        return batches

    def describe(self) -> dict[str, Any]:
        """The window's state (for /status)."""
        return {"max_files": self.batch.max_files, "max_wait_seconds": self.batch.max_wait.total_seconds(),
                "waiting": len(self.files)}


def batch_options(files: list[TakenFile]) -> dict[str, Any]:
    """A batch run's options: its files and their contents, in the order they were taken."""
    return {"files": [{"file": taken.relative, "sha256": taken.sha256} for taken in files]}
