"""Status shown by symbol and word as well as colour (so it reads in 16 colours and with NO_COLOR).

With ``NO_COLOR`` set, Textual turns every colour into a shade of grey by its luminance: red
text becomes dark grey on a near-black background (colour 236 on 233), nearly invisible. So
under NO_COLOR meaning is carried by attributes instead: what went wrong is bold and reversed,
what needs attention is bold and underlined, what is going on is bold; nothing is dimmed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from rich.text import Text

from flowdeck.console.cli.output import STATUS_STYLE, format_duration, format_rows
from flowdeck.state import CheckRecord, StepRecord
from flowdeck.state.status import StepStatus

__all__ = ["attributes_only", "format_duration", "format_rows", "short_time", "status_text", "step_status",
           "steps_summary", "tone", "zoned_time"]


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

# Under NO_COLOR: statuses by attribute (those not listed are plain text).
ALARM, ATTENTION, ACTIVE = "bold reverse", "bold underline", "bold"
MONOCHROME_STATUS_STYLE = {
    "failed": ALARM, "abandoned": ALARM, "invalid": ALARM, "error": ALARM, "critical": ALARM,
    "warned": ATTENTION, "warning": ATTENTION, "new": ATTENTION, "canceled": ATTENTION,
    "running": ACTIVE, "queued": ACTIVE,
}
# Under NO_COLOR: colour words of other text (problem lines, hints) by attribute.
_MONOCHROME_TONES = {"red": "bold", "yellow": "bold", "magenta": "bold", "bold": "bold", "reverse": "reverse",
                     "underline": "underline", "italic": "italic"}


def attributes_only() -> bool:
    """Whether colours are off (``NO_COLOR`` set): styles must use attributes, never shades."""
    return "NO_COLOR" in os.environ


def tone(style: str) -> str:
    """``style`` as shown: itself in colour; under NO_COLOR its colours become attributes (red → bold)
    and shades (dim, green, cyan) become plain text."""
    if not attributes_only():
        return style
    return " ".join(dict.fromkeys(_MONOCHROME_TONES[word] for word in style.split() if word in _MONOCHROME_TONES))


def status_style(status: str) -> str:
    """The style of a status word: its colour, or under NO_COLOR its attributes."""
    if attributes_only():
        return MONOCHROME_STATUS_STYLE.get(status, "")
    return CONSOLE_STATUS_STYLE.get(status, ("?", ""))[1]


def status_symbol(status: str) -> str:
    """The symbol of a status (``✓``, ``✗``, ``▶`` ...)."""
    return CONSOLE_STATUS_STYLE.get(status, ("?", ""))[0]


def status_text(status: str, *, width: int | None = None) -> Text:
    """``✓ succeeded`` in the status's colour (or attributes under NO_COLOR)."""
    label = f"{status_symbol(status)} {status}"
    if width is not None:
        label = label.ljust(width)
    return Text(label, style=status_style(status))


def step_status(step: StepRecord, checks: Iterable[CheckRecord] = ()) -> str:
    """How a step ended, as an operator should read it: ``unchanged`` when nothing it depends on changed
    (its fingerprint spared it), ``reused`` when a resume took an earlier run's output without running it,
    ``warned`` when it succeeded with a check that warned, else its status."""
    if step.unchanged:
        return "unchanged"
    if step.reused_from:
        return "reused"
    if step.status == StepStatus.SUCCEEDED and any(check.step == step.step and check.status == "warned" for check in checks):
        return "warned"
    return step.status


def steps_summary(steps: Sequence[StepRecord], finished: bool, checks: Iterable[CheckRecord] = ()) -> str:
    """``3/8 steps`` while a run goes on; once it ended, what each step came to: ``8/8 steps · 1 warned``,
    ``7/8 steps succeeded · 1 canceled`` (never a bare 7/8 that reads like progress)."""
    checks = list(checks)
    shown = [step_status(step, checks) for step in steps]
    done = sum(status in ("succeeded", "reused", "unchanged", "warned") for status in shown)
    if not finished:
        return f"{done}/{len(steps)} steps"
    others = Counter(status for status in shown if status not in ("succeeded", "reused", "unchanged", "warned"))
    extra = [f"{shown.count(status)} {status}" for status in ("warned", "reused", "unchanged") if status in shown]
    if not others:
        return " · ".join([f"{done}/{len(steps)} steps", *extra])
    order = ("failed", "canceled", "skipped", "abandoned", "running", "pending")
    rest = [f"{others[status]} {status}" for status in sorted(others, key=lambda s: order.index(s) if s in order else 99)]
    return " · ".join([f"{done}/{len(steps)} steps succeeded", *extra, *rest])


def zoned_time(ts: float | None, zone: str | None, *, now: float | None = None) -> str:
    """``06:00 CET`` within a day of ``now``, ``12-07 06:00 CET`` later: in the schedule's own zone,
    named, so a cron in Europe/Paris is not read in the terminal's zone."""
    if ts is None:
        return ""
    from zoneinfo import ZoneInfo

    try:
        moment = datetime.fromtimestamp(ts, tz=ZoneInfo(zone or "UTC"))
    except (KeyError, ValueError):
        return short_time(ts, now=now)
    within_a_day = now is not None and 0 <= ts - now < 86400
    return moment.strftime("%H:%M %Z" if within_a_day else "%m-%d %H:%M %Z")


def short_time(ts: float | None, *, now: float | None = None) -> str:
    """``10:45:01`` today, ``11-27 10:45`` on another day, empty for None (local time)."""
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts)
    if now is not None and datetime.fromtimestamp(now).date() == moment.date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%m-%d %H:%M")
