"""Tab completion of the `:` command line: verbs from the action registry, then their arguments.

Pure functions over what the app knows (pipelines, run ids, themes, statuses), so they are
tested without a screen. One Tab completes as far as every candidate agrees, as a shell does;
the candidates are shown when more than one remains.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Completion:
    """The line after a Tab, and what could follow (empty when it completed to one)."""

    line: str
    candidates: tuple[str, ...] = ()


def complete(line: str, verbs: Sequence[str], arguments: Callable[[str, list[str]], Sequence[str]]) -> Completion:
    """Complete the last word of ``line``: a verb when it is the first word, else an argument of the verb
    (``arguments(verb, words_before)`` lists those that fit there)."""
    head, space, last = line.rpartition(" ")
    if not space:
        choices = sorted({verb for verb in verbs if verb.startswith(last)})
        prefix = ""
    else:
        words = head.split()
        choices = sorted({choice for choice in arguments(words[0], words[1:]) if choice.startswith(last)})
        prefix = head + " "
    if not choices:
        return Completion(line)
    if len(choices) == 1:
        return Completion(prefix + choices[0] + ("" if choices[0].endswith("=") else " "))
    common = os.path.commonprefix(choices)
    return Completion(prefix + common, tuple(choices))
