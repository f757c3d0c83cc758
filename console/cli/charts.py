"""Small terminal charts for the CLI: sparklines, bars, a step timeline (rich markup)."""

from __future__ import annotations

from collections.abc import Sequence

from flowdeck.engine.units import format_bytes as format_bytes  # the engine's, so hints and tables agree

BLOCKS = "▁▂▃▄▅▆▇█"
STATUS_COLOUR = {"succeeded": "green", "failed": "red", "abandoned": "red", "canceled": "magenta", "running": "yellow"}


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """Values as one line of block characters, scaled between their minimum and maximum; resampled to ``width``."""
    if not values:
        return ""
    points = list(values)
    if len(points) > width:  # the mean of each bucket keeps short spikes visible enough
        size = len(points) / width
        points = [sum(bucket) / len(bucket) for bucket in
                  (points[int(i * size):max(int((i + 1) * size), int(i * size) + 1)] for i in range(width))]
    low, high = min(points), max(points)
    span = high - low
    if span <= 0:
        return BLOCKS[0] * len(points)
    return "".join(BLOCKS[min(len(BLOCKS) - 1, int((value - low) / span * (len(BLOCKS) - 1) + 0.5))] for value in points)


def bar(value: float, maximum: float, width: int = 30) -> str:
    """A horizontal bar of ``value`` out of ``maximum`` in ``width`` cells (eighths for the last cell)."""
    if maximum <= 0 or value <= 0:
        return ""
    cells = value / maximum * width
    whole = int(cells)
    part = " ▏▎▍▌▋▊▉"[int((cells - whole) * 8)]
    return "█" * whole + (part if part != " " else "")


def status_bars(points: Sequence[tuple[str, float]], height_chars: str = BLOCKS) -> str:
    """One coloured block per run, its height its duration (relative to the longest): a duration trend."""
    if not points:
        return ""
    longest = max(seconds for _, seconds in points) or 1.0
    cells = []
    for status, seconds in points:
        block = height_chars[min(len(height_chars) - 1, int(seconds / longest * (len(height_chars) - 1) + 0.5))]
        cells.append(f"[{STATUS_COLOUR.get(status, 'white')}]{block}[/]")
    return "".join(cells)


def timeline(start: float, end: float, span_start: float, span_end: float, width: int = 30) -> str:
    """A Gantt row: where ``start``..``end`` falls within ``span_start``..``span_end``."""
    total = max(span_end - span_start, 1e-9)
    left = int((start - span_start) / total * width)
    length = max(1, int(round((end - start) / total * width)))
    left = min(left, width - 1)
    return " " * left + "█" * min(length, width - left)


def format_rate(value: float | None, unit: str) -> str:
    """``12.3k rows/s``, or empty."""
    if value is None:
        return ""
    for suffix, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{suffix} {unit}/s"
    return f"{value:.0f} {unit}/s"
