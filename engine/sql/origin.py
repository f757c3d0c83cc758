"""Where in the SQL a person wrote a point of the SQL an engine ran came from (the engine ran a translation),
and a step's error moved there (``located``).

A Spark error points into the Spark SQL flowdeck generated (``line 1, pos 153``), which the
user never wrote. The translation keeps the user's names, function names and keywords, in
order, so the word at the engine's position, counted among its earlier occurrences, is found
at the same count in the written text (``OVER`` the third time → the third ``over`` written).
A word the rewrite made up (a ``CAST`` it added) is not in the written text: the names the
engine's message quotes (a column, a function) are tried next; then nothing is claimed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from flowdeck.engine.errors import Location, StepFailed, excerpt_of

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def written_position(written: str, ran: str, start: int | None, names: Sequence[str] = ()) -> tuple[int, int] | None:
    """Line and column (1-based) in ``written`` of what ``ran[start]`` (0-based) came from, else of the first
    of ``names`` written there; None when neither is found."""
    if start is not None and 0 <= start < len(ran):
        match = _WORD.match(ran, start + (1 if ran[start] in "`\"" else 0))
        if match is None:  # a parenthesis or an operator (`OVER (`): the word before it
            match = next(reversed(list(_WORD.finditer(ran, 0, start))), None)
        if match is not None:
            before = len(_occurrences(ran[:match.start()], match.group()))
            found = _occurrences(written, match.group())
            if found:
                return _line_column(written, found[min(before, len(found) - 1)])
    for name in names:
        found = _occurrences(written, name.split(".")[-1].strip("`\""))
        if found:
            return _line_column(written, found[0])
    return None


def index_of(text: str, line: int, column: int) -> int | None:
    """The 0-based index in ``text`` of 1-based ``line`` and 0-based ``column`` (as Spark's ``line 1, pos 7``)."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines) or column > len(lines[line - 1]):
        return None
    return sum(len(previous) + 1 for previous in lines[:line - 1]) + column


def _occurrences(text: str, word: str) -> list[int]:
    """Where ``word`` starts in ``text`` as a whole word, any case, outside comments and string literals."""
    if not word:
        return []
    code = _blank_comments_and_strings(text)
    return [match.start() for match in re.finditer(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", code,
                                                  flags=re.IGNORECASE)]


def _blank_comments_and_strings(text: str) -> str:
    """``text`` with comments and string literals' contents replaced by spaces (positions kept)."""
    return re.sub(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'", lambda match: " " * len(match.group()), text, flags=re.DOTALL)


def _line_column(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def located(error: StepFailed, step: str, path: Path, text: str) -> StepFailed:
    """``error`` (of the same class) in the user's terms: the step, the file and line the failing construct was
    written on (mapped back through the translation), and the SQL the engine ran, pointed at."""
    if error.ran is None:
        return error
    where = written_position(text, error.ran.sql, error.ran.start, error.ran.names)
    line, column = where or (0, 0)
    ran = f"the SQL that ran:\n{_pointed(error.ran.sql, error.ran.start)}"
    excerpt = f"{excerpt_of(text, line, column)}\n{ran}" if where else ran
    return type(error)(f"step `{step}`: {error.what}", transient=error.transient, hint=error.hint,
                       location=Location(path, line, column), excerpt=excerpt)


def _pointed(sql: str, start: int | None) -> str:
    """``sql`` indented, with a caret under ``start`` (a 0-based index) when there is one."""
    lines = sql.splitlines() or [""]
    shown: list[str] = []
    offset = 0
    for line in lines:
        shown.append(f"  {line}")
        if start is not None and offset <= start <= offset + len(line):
            shown.append("  " + " " * (start - offset) + "^")
        offset += len(line) + 1
    return "\n".join(shown)
