"""Comparing a step's output with a test's expected rows, and saying how they differ.

The rules (docs/sql-tests.md):

- columns are matched by name, ignoring case; the output's columns (less ``ignore_columns``) must be
  exactly the columns the expected rows name;
- null equals only null; numbers compare by value whatever their type (``1``, ``1.0`` and a
  DECIMAL ``1.00`` are equal); a floating-point number (DOUBLE, REAL) is rounded to 12 significant
  digits first, so sums that differ in their last bits, as engines' sums do, are equal; integers and
  decimals compare exactly;
- a date or timestamp equals its ISO text (``2026-11-01``, ``2026-11-01 06:00:00``; ``T`` or a
  space); a timestamp with a time zone compares in UTC;
- text compares exactly; true/false only equal booleans;
- without ``key``, the rows compare as a multiset (``ignore_order: false``: position by position);
  with ``key``, each expected row is looked up by its key in the output (other output rows are not
  compared), and a row found shows which of its columns differ.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Context, Decimal
from typing import Any

FLOAT_DIGITS = 12
_FLOAT_CONTEXT = Context(prec=FLOAT_DIGITS)
Row = dict[str, Any]


@dataclass(frozen=True)
class ColumnDifference:
    """One column of a keyed row whose value is not the expected one."""

    column: str
    expected: Any
    actual: Any


@dataclass(frozen=True)
class RowDifference:
    """A row found by its key (or at its position, in order) whose columns differ."""

    key: Row
    columns: list[ColumnDifference]
    position: int | None = None


@dataclass(frozen=True)
class Comparison:
    """How the output differs from the expected rows (nothing, when the test passes)."""

    columns: list[str]
    expected_rows: int
    actual_rows: int
    problems: list[str] = field(default_factory=list)  # columns missing or unexpected, keys found twice
    missing: list[Row] = field(default_factory=list)  # expected rows not in the output
    unexpected: list[Row] = field(default_factory=list)  # output rows not expected
    differing: list[RowDifference] = field(default_factory=list)  # keyed (or ordered) rows whose columns differ

    @property
    def passed(self) -> bool:
        """Whether the output holds exactly what the test expects."""
        return not (self.problems or self.missing or self.unexpected or self.differing)

    def summary(self) -> str:
        """``2 rows missing, 1 row unexpected`` (or ``as expected``)."""
        parts = list(self.problems)
        for count, what in ((len(self.missing), "missing"), (len(self.unexpected), "unexpected"),
                            (len(self.differing), "differing")):
            if count:
                parts.append(f"{count} row{'s' if count != 1 else ''} {what}")
        return "; ".join(parts) or "as expected"


def canonical(value: Any) -> Any:
    """A value as the comparison sees it (hashable; see the module's docstring)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float):
        if math.isnan(value):
            return ("nan",)
        if math.isinf(value):
            return ("number", value)
        return ("number", _FLOAT_CONTEXT.plus(Decimal(repr(value))).normalize())
    if isinstance(value, (int, Decimal)):
        return ("number", Decimal(value).normalize())
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return ("time", value.isoformat(sep=" ").removesuffix(" 00:00:00") if value.time() == time() else
                value.isoformat(sep=" "))
    if isinstance(value, date):
        return ("time", value.isoformat())
    if isinstance(value, time):
        return ("time", value.isoformat())
    if isinstance(value, timedelta):
        return ("interval", value)
    if isinstance(value, str):
        temporal = _temporal_text(value)
        return temporal if temporal is not None else ("text", value)
    if isinstance(value, (list, tuple)):
        return ("list", tuple(canonical(item) for item in value))
    if isinstance(value, dict):
        return ("map", tuple(sorted((str(key), canonical(item)) for key, item in value.items())))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("bytes", bytes(value))
    return ("text", str(value))


def _temporal_text(text: str) -> Any:
    """ISO text of a date or timestamp, as ``canonical`` gives for the value; None for other text."""
    stripped = text.strip()
    if len(stripped) < 10 or not (stripped[:4].isdigit() and stripped[4] == "-" and stripped[7] == "-"):
        return None
    try:
        if len(stripped) == 10:
            return canonical(date.fromisoformat(stripped))
        return canonical(datetime.fromisoformat(stripped))
    except ValueError:
        return None


def compare(actual_columns: Sequence[str], actual_rows: Sequence[Sequence[Any]], expected_columns: Sequence[str],
            expected_rows: Sequence[Row], *, key: Sequence[str] = (), ignore_order: bool = True,
            ignore_columns: Sequence[str] = ()) -> Comparison:
    """Compare the output (``actual_columns``, ``actual_rows``) with the expected rows."""
    if not expected_columns and not expected_rows:  # no rows expected, and no columns named: any output row is one too many
        expected_columns = [column for column in actual_columns if column.lower() not in
                            {ignored.lower() for ignored in ignore_columns}]
    ignored = {column.lower() for column in ignore_columns}
    output = {column.lower(): index for index, column in enumerate(actual_columns)}
    named = {column.lower() for column in expected_columns}
    compared = [column for column in actual_columns if column.lower() in named and column.lower() not in ignored]
    problems: list[str] = []
    absent = [column for column in expected_columns if column.lower() not in output]
    if absent:
        problems.append("the output has no column " + ", ".join(f"`{column}`" for column in absent))
    extra = [column for column in actual_columns if column.lower() not in named and column.lower() not in ignored]
    if extra:
        problems.append("the output has columns the test does not expect: " + ", ".join(f"`{c}`" for c in extra)
                        + " (name them in the expected rows, or in `ignore_columns`)")
    actual = [{column: row[output[column.lower()]] for column in compared} for row in actual_rows]
    expected = [{column: _get(row, column) for column in compared} for row in expected_rows]
    result = Comparison(columns=compared, expected_rows=len(expected_rows), actual_rows=len(actual_rows),
                        problems=problems)
    if absent:
        return result  # the rows cannot be compared without the column
    if key:
        _compare_keyed(result, actual, expected, [_name_in(compared, column) for column in key])
    elif ignore_order:
        _compare_multiset(result, actual, expected)
    else:
        _compare_in_order(result, actual, expected)
    return result


def _name_in(columns: list[str], column: str) -> str:
    return next((name for name in columns if name.lower() == column.lower()), column)


def _get(row: Row, column: str) -> Any:
    if column in row:
        return row[column]
    lowered = column.lower()
    return next((value for name, value in row.items() if str(name).lower() == lowered), None)


def _signature(row: Row, columns: Sequence[str]) -> tuple[Any, ...]:
    return tuple(canonical(row.get(column)) for column in columns)


def _compare_multiset(result: Comparison, actual: list[Row], expected: list[Row]) -> None:
    columns = result.columns
    have = Counter(_signature(row, columns) for row in actual)
    want = Counter(_signature(row, columns) for row in expected)
    for row in expected:
        signature = _signature(row, columns)
        if have[signature] > 0:
            have[signature] -= 1
        else:
            result.missing.append(row)
    for row in actual:
        signature = _signature(row, columns)
        if want[signature] > 0:
            want[signature] -= 1
        else:
            result.unexpected.append(row)


def _compare_in_order(result: Comparison, actual: list[Row], expected: list[Row]) -> None:
    columns = result.columns
    for position, (want, have) in enumerate(zip(expected, actual), start=1):
        differences = [ColumnDifference(column, want.get(column), have.get(column)) for column in columns
                       if canonical(want.get(column)) != canonical(have.get(column))]
        if differences:
            result.differing.append(RowDifference(key={}, columns=differences, position=position))
    result.missing.extend(expected[len(actual):])
    result.unexpected.extend(actual[len(expected):])


def _compare_keyed(result: Comparison, actual: list[Row], expected: list[Row], key: list[str]) -> None:
    found: dict[tuple[Any, ...], list[Row]] = {}
    for row in actual:
        found.setdefault(_signature(row, key), []).append(row)
    seen: set[tuple[Any, ...]] = set()
    for row in expected:
        signature = _signature(row, key)
        shown = {column: row.get(column) for column in key}
        if signature in seen:
            result.problems.append(f"the key {_key_text(shown)} is in the expected rows twice")
            continue
        seen.add(signature)
        matches = found.get(signature, [])
        if not matches:
            result.missing.append(row)
            continue
        if len(matches) > 1:
            result.problems.append(f"the key {_key_text(shown)} is in the output {len(matches)} times")
            continue
        differences = [ColumnDifference(column, row.get(column), matches[0].get(column)) for column in result.columns
                       if column not in key and canonical(row.get(column)) != canonical(matches[0].get(column))]
        if differences:
            result.differing.append(RowDifference(key=shown, columns=differences))


def _key_text(key: Row) -> str:
    return ", ".join(f"{column}={value!r}" for column, value in key.items())
