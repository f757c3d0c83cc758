"""Printing for the CLI: one rich Console per stream, JSON, tables and status symbols.

Colour only on a terminal; ``NO_COLOR`` is honoured (rich reads it). Status is always shown
by a word and a symbol as well as a colour.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from rich.console import Console
from rich.markup import escape

from flowdeck.engine.units import counted, format_duration

__all__ = ["counted", "err", "format_duration", "format_rows", "format_time", "json_default", "out", "plain", "print_json",
           "status_text"]

STATUS_STYLE = {
    "queued": ("…", "cyan"),
    "pending": ("·", "dim"),
    "running": ("▶", "yellow"),
    "succeeded": ("✓", "green"),
    "passed": ("✓", "green"),
    "failed": ("✗", "red"),
    "error": ("✗", "red"),
    "warned": ("!", "yellow"),
    "skipped": ("-", "dim"),
    "reused": ("↺", "cyan"),
    "unchanged": ("=", "dim"),
    "unchanged (prod)": ("=", "dim"),  # a development environment reads the step's table from prod
    "canceled": ("⊘", "magenta"),
    "abandoned": ("☠", "red"),
}


PIPE_WIDTH = 200  # off a terminal, do not squeeze tables into 80 columns


@cache
def out() -> Console:
    """The console for results (stdout)."""
    # emoji off: a value such as the trigger key `after:b:a=…` must not print its `:b:` as 🅱
    console = _Stdout(highlight=False, soft_wrap=False, emoji=False)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
        # a line of text stays one line, however long (grep, logs, a mail body); tables still fit PIPE_WIDTH
        console.soft_wrap = True
    return console


@cache
def err() -> Console:
    """The console for messages and errors (stderr)."""
    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)  # messages are never hard-wrapped


class _Stdout(Console):
    """Standard output that outlives its reader: when ``flowdeck run | head`` closes the pipe, the rest of
    the output goes to /dev/null and the command carries on (rich's default exits at once with 1, which,
    raised from a running step's progress line, failed the run)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def plain(value: object) -> str:
    """Text from outside (messages, values, paths) made safe to embed in rich markup."""
    return escape(str(value))


def status_text(status: str) -> str:
    """``✓ succeeded`` in the status's colour (rich markup)."""
    symbol, style = STATUS_STYLE.get(status, ("?", "white"))
    return f"[{style}]{symbol} {status}[/]"


def json_default(value: Any) -> Any:
    """How values that JSON lacks are written: dates as ISO text, decimals as numbers."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def print_json(value: Any) -> None:
    """Write ``value`` as indented JSON to stdout (never coloured)."""
    sys.stdout.write(json.dumps(value, indent=2, default=json_default, ensure_ascii=False) + "\n")


def format_time(ts: float | None, *, short: bool = False) -> str:
    """A local wall-clock time for tables: ``2026-11-27 10:45:01`` (``11-27 10:45:01`` when short)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts).strftime("%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S")


def format_rows(rows: int | None) -> str:
    """``3,100`` or empty."""
    return "" if rows is None else f"{rows:,}"
