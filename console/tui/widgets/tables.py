"""DataTable helpers the list screens share: columns laid out for the table's width, the key under
the cursor, and refilling without losing it.

A table's columns have fixed widths except one, which takes what is left of the width (so the
last words of a trigger or an alert are not cut on a wide screen); columns that matter less
are left out on narrow screens rather than cutting the ones that matter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from textual.widgets import DataTable

SCROLLBAR_ROOM = 2  # a vertical scrollbar appears when rows outnumber the lines


@dataclass(frozen=True)
class ColumnSpec:
    """One column: fixed ``width``, or ``None`` to take what is left (at least ``min_width``)."""

    label: str
    key: str
    width: int | None = None
    min_width: int = 10
    min_table_width: int = 0  # shown only in a table at least this wide


def lay_out(table: DataTable[Any], columns: Sequence[ColumnSpec], width: int | None = None) -> list[str]:
    """Give ``table`` the columns that fit ``width`` (its own by default); return their keys.

    Columns are recreated only when their widths change; the caller refills the rows then
    (``refill`` keeps the cursor on its row).
    """
    available = width if width is not None else (table.size.width or table.app.size.width)
    shown = [column for column in columns if available >= column.min_table_width]
    padding = 2 * table.cell_padding * len(shown)
    fixed = sum(column.width or 0 for column in shown)
    flexible = [column for column in shown if column.width is None]
    left = max(available - fixed - padding - SCROLLBAR_ROOM, 0)
    each = max(left // len(flexible), 1) if flexible else 0
    wanted = [(column.key, column.label, column.width if column.width is not None else max(each, column.min_width))
              for column in shown]
    current = [(str(key.value), str(column.label), column.width) for key, column in table.columns.items()]
    if current != wanted:
        table.clear(columns=True)
        for key, label, column_width in wanted:
            table.add_column(label, key=key, width=column_width)
    return [key for key, _, _ in wanted]


def pick(cells: dict[str, Any], keys: Sequence[str]) -> tuple[Any, ...]:
    """The cells of a row for the columns shown, in their order."""
    return tuple(cells[key] for key in keys)


def cursor_key(table: DataTable[Any]) -> str | None:
    """The row key under the cursor (None for an empty table)."""
    if table.row_count == 0:
        return None
    row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
    return str(row_key.value)


def refill(table: DataTable[Any], rows: Iterable[tuple[str, Sequence[Any]]]) -> None:
    """Replace every row (key, cells), keeping the cursor on the same key when it is still there."""
    selected = cursor_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected is not None and selected in table.rows:
        table.move_cursor(row=table.get_row_index(selected))
