"""Comparing a documented output block with what the command really printed.

Both sides are normalised the same way before they are compared, so that what differs from one
run to the next does not count, and everything else does:

- run ids, wall-clock times, durations, rates, process ids, ports and random test-notification
  ids become placeholders (``<run>``, ``<time>``, ``<duration>`` ...);
- the places the test ran in (its folders, its OS user, its host) are shown as the page shows
  them (``/home/you/shop``, ``you``), through the ``seen_as`` mapping the test passes;
- runs of spaces count as one (a column is as wide as its widest value, and a duration of
  ``10.52s`` is wider than ``0.07s``), and trailing spaces do not count.

A line of the block that is exactly ``...`` stands for any number of lines (none included);
every other line must match, in order, and nothing may be left over on either side.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

ELISION = "..."

# (what varies, its placeholder); applied in this order, on both sides
VARYING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b"), "<run>"),
    (re.compile(r"\b\d{8}_\d{6}_[0-9a-f]{6}\b"), "<run>"),  # a run id inside a table name
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?"), "<time>"),
    (re.compile(r"\b\d{2}-\d{2} \d{2}:\d{2}:\d{2}\b"), "<time>"),  # the short form of tables
    (re.compile(r"\b\d[\d,]*(?:\.\d+)?[kMG]? rows/s\b"), "<rate>"),
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:ms|s|m|h)\b"), "<duration>"),
    (re.compile(r"\bpid \d+ on [\w.-]+"), "pid <pid> on <host>"),
    (re.compile(r"\bpid \d+"), "pid <pid>"),
    (re.compile(r"\b(127\.0\.0\.1|localhost):\d+"), r"\1:<port>"),
    (re.compile(r"\btest-[0-9a-f]{12}\b"), "test-<id>"),
    (re.compile(r"\b(peak memory|mean CPU|max|read|written) (?:-|[\d.]+ ?(?:B|kB|MB|GB|TB|%))"), r"\1 <amount>"),
)


def normalise(text: str, seen_as: Mapping[str, str] = {}) -> list[str]:
    """The lines of ``text`` as they are compared: the test's places shown as the page shows them,
    what varies replaced by placeholders, runs of spaces made one, no trailing spaces, no blank ends."""
    for actual, shown in sorted(seen_as.items(), key=lambda item: -len(item[0])):  # longest first: paths in paths
        text = re.sub(rf"(?<![\w/]){re.escape(actual)}(?!\w)", shown, text)
    for pattern, placeholder in VARYING:
        text = pattern.sub(placeholder, text)
    lines = [re.sub(r" {2,}", " ", line).rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def matches(documented: list[str], printed: list[str]) -> bool:
    """Whether the printed lines are the documented ones, ``...`` standing for any lines."""
    if not documented:
        return not printed
    first, rest = documented[0], documented[1:]
    if first == ELISION:
        return any(matches(rest, printed[skip:]) for skip in range(len(printed) + 1))
    return bool(printed) and printed[0] == first and matches(rest, printed[1:])


def mismatch(documented: str, printed: str, seen_as: Mapping[str, str] = {}) -> str | None:
    """None when ``printed`` is what the page shows; else a diff of the two, normalised."""
    shown, actual = normalise(documented), normalise(printed, seen_as)
    if matches(shown, actual):
        return None
    return "\n".join(difflib.unified_diff(shown, actual, "documented", "printed", lineterm="", n=2))
