"""Status shown by symbol and word as well as colour (so it reads in 16 colours and with NO_COLOR)."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from flowdeck.console.cli.output import STATUS_STYLE, format_duration, format_rows

__all__ = ["format_duration", "format_rows", "short_time", "status_text"]


CONSOLE_STATUS_STYLE = {
    **STATUS_STYLE,
    "never": ("·", "dim"),
    "invalid": ("✗", "red"),
    "new": ("!", "bold"),
    "acked": ("✓", "dim"),
    "error": ("✗", "red"),
    "critical": ("‼", "red"),
    "warning": ("!", "yellow"),
    "info": ("i", "cyan"),
    "resolved": ("✓", "green"),
}


def status_text(status: str, *, width: int | None = None) -> Text:
    """``✓ succeeded`` in the status's colour."""
    symbol, style = CONSOLE_STATUS_STYLE.get(status, ("?", ""))
    label = f"{symbol} {status}"
    if width is not None:
        label = label.ljust(width)
    return Text(label, style=style)


def short_time(ts: float | None, *, now: float | None = None) -> str:
    """``10:45:01`` today, ``11-27 10:45`` on another day, empty for None (local time)."""
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts)
    if now is not None and datetime.fromtimestamp(now).date() == moment.date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%m-%d %H:%M")
