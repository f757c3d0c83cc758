"""Durations written for people, the same in the CLI, the console and alert messages."""

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
