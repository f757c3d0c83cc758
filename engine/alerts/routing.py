"""Routes: which channels an alert goes to, chosen by its labels (severity, rule, pipeline, step, yours)."""

from __future__ import annotations

from flowdeck.engine.project.config.alerts import AlertsConfig, Route
from flowdeck.state import Delivery

CONSOLE = "console"


def route_matches(route: Route, labels: dict[str, str]) -> bool:
    """Whether every matcher of ``route`` fits ``labels`` (a list of values means any of them)."""
    for key, wanted in route.match.items():
        value = labels.get(key)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def deliveries_for(config: AlertsConfig, labels: dict[str, str]) -> tuple[Delivery, ...]:
    """The channels an alert with ``labels`` goes to, in route order: the first matching route wins,
    unless it says ``continue``; each channel once, with its route's repeat interval."""
    chosen: dict[str, Delivery] = {}
    for route in config.routes:
        if not route_matches(route, labels):
            continue
        repeat = (route.repeat_interval or config.repeat_interval).total_seconds()
        for name in route.channels:
            channel = config.channels.get(name)
            send_resolved = channel.send_resolved if channel is not None else True
            chosen.setdefault(name, Delivery(channel=name, repeat_interval=repeat, send_resolved=send_resolved))
        if not route.continue_matching:
            break
    return tuple(chosen.values())
