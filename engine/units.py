"""Durations, sizes and counts written for people, the same in the CLI, the console and alert messages."""

from __future__ import annotations


def format_duration(seconds: float | None) -> str:
    """``0.42s``, ``3m05s``, ``1h02m``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 step``, ``2 steps``, ``3,100 rows``: the count and the noun that agrees with it."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def format_bytes(value: float | None) -> str:
    """``1.4 MB`` (powers of 1000), or empty."""
    if value is None:
        return ""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""
