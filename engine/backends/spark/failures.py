"""What a Spark error points at in the Spark SQL that ran: a character position, and the names it quotes.

Spark says where in two ways: a query context (``startIndex`` into the SQL, Spark 4 analysis
and runtime errors) or, for a syntax error, ``(line 1, pos 153)`` in the message. Its
message parameters name the column, function or table it could not resolve. Both are mapped
back to the user's SQL by ``engine.sql.origin``.
"""

from __future__ import annotations

import re

from flowdeck.engine.sql.origin import index_of

_LINE_POS = re.compile(r"\(?line (\d+),? pos(?:ition)? (\d+)\)?")


def error_origin(error: BaseException, sql: str) -> tuple[int | None, tuple[str, ...]]:
    """The 0-based index in ``sql`` ``error`` points at (None when it points nowhere), and the names it quotes."""
    start: int | None = None
    try:
        contexts = error.getQueryContext()  # type: ignore[attr-defined]
    except Exception:  # not a Spark error, or an older client
        contexts = []
    for context in contexts or []:
        try:
            index = int(context.startIndex())
        except Exception:
            continue
        if 0 <= index < len(sql):
            start = index
            break
    if start is None:
        match = _LINE_POS.search(str(error))
        if match is not None:
            start = index_of(sql, int(match.group(1)), int(match.group(2)))
    try:
        parameters = error.getMessageParameters() or {}  # type: ignore[attr-defined]
    except Exception:
        parameters = {}
    names = tuple(value.split(".")[-1].strip("`")
                  for key, value in parameters.items()
                  if isinstance(value, str) and (key.lower().endswith("name") or key == "name") and value.strip("`"))
    return start, names
