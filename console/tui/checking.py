"""Checking what an operator types: after a pause in typing, in a worker, and only the newest counts.

The editor and the new-pipeline form both validate as the operator types. Each keystroke
postpones the check until typing pauses; each check is numbered, so a slow check of older text
that finishes late is recognised and dropped; and until the newest text's result is in, the
screen knows its last result is stale, so it says "checking" rather than a "✓ valid" that
belongs to text that is no longer there, and Save waits.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.timer import Timer
from textual.widget import Widget

CHECK_DELAY_SECONDS = 0.3  # check after this long without typing


class TypingCheck:
    """Debounced, numbered checks of something being typed into ``owner``.

    ``start(generation)`` starts one check (normally in a worker) whose result carries
    ``generation``; the owner hands that result to :meth:`take`, which says whether it is the
    newest one asked for.
    """

    def __init__(self, owner: Widget, start: Callable[[int], None], delay: float = CHECK_DELAY_SECONDS) -> None:
        self._owner = owner
        self._start = start
        self.delay = delay  # seconds without typing before a check
        self._timer: Timer | None = None
        self.generation = 0  # the newest check asked for
        self._answered = 0  # the newest check whose result was taken

    @property
    def pending(self) -> bool:
        """Whether the text changed since the result on screen was computed (or that check is running)."""
        return self._timer is not None or self._answered != self.generation

    def soon(self) -> None:
        """The text changed: check it once typing has paused for the delay."""
        if self._timer is not None:
            self._timer.stop()
        self._timer = self._owner.set_timer(self.delay, self._paused)

    def now(self) -> None:
        """Check the text as it is now (a check waiting for a pause is dropped)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._check()

    def _paused(self) -> None:
        self._timer = None  # it fired: nothing to stop
        self._check()

    def _check(self) -> None:
        self.generation += 1
        self._start(self.generation)

    def take(self, generation: int) -> bool:
        """Accept the result of check ``generation`` if it is the newest; older ones finishing late are refused."""
        if generation != self.generation:
            return False
        self._answered = generation
        return True
