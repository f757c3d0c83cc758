"""Channels: turn an outbox notification into a message and deliver it through Apprise (email,
Slack, JSON webhook, SMS) or as a console toast (an event in the ledger the console shows).

Channel URLs hold ``${secret:NAME}`` / ``${env:NAME}`` references, resolved here just before
sending and never stored; every text that leaves (errors included) is masked first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from flowdeck.engine.errors import FlowdeckError, NotFound
from flowdeck.engine.project.config.alerts import Channel
from flowdeck.engine.masking import mask
from flowdeck.engine.plugins import registry
from flowdeck.engine.plugins.declare import ChannelKind
from flowdeck.engine.secrets import resolve
from flowdeck.state import Notification

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project
    from flowdeck.state import Ledger

TOAST_EVENT = "alert.toast"
_NOTIFY_TYPE = {"firing": "failure", "reminder": "warning", "resolved": "success", "test": "info"}
_SEVERITY_TYPE = {"critical": "failure", "warning": "warning", "info": "info"}


class DeliveryError(Exception):
    """A channel did not take a notification; ``retryable`` is False when trying again cannot help.

    ``misconfigured`` says why it cannot: the channel's configuration is wrong (a secret its url needs
    is not set, the channel is gone, Apprise cannot read the url), so a person must fix it first.
    """

    def __init__(self, message: str, *, retryable: bool = True, misconfigured: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable and not misconfigured
        self.misconfigured = misconfigured


@dataclass(frozen=True)
class Message:
    """What a channel sends: a title, a text body, Apprise's notification type and structured fields."""

    title: str
    body: str
    notify_type: str
    fields: dict[str, Any]


def channel_named(project: Project, name: str) -> Channel | None:
    """The configured channel called ``name`` (``console`` always exists)."""
    channels = project.config.alerts.channels
    if name in channels:
        return channels[name]
    return _console_channel() if name == "console" else None


def require_channel(project: Project, name: str) -> Channel:
    """The configured channel called ``name``, or a NotFound naming the known ones."""
    channel = channel_named(project, name)
    if channel is None:
        known = ", ".join(sorted({*project.config.alerts.channels, "console"}))
        raise NotFound(f"no channel named `{name}` in alerts.channels of flowdeck.yaml", hint=f"known: {known}")
    return channel


@cache
def _console_channel() -> Channel:
    # Built on first use: a model instance at import time would build its validator in every process.
    return Channel(type="console")


def compose(notification: Notification, project_name: str) -> Message:
    """The message for one notification: the same facts for every channel, shaped for reading."""
    payload = notification.payload
    kind = notification.kind
    if kind == "test":
        text = str(payload.get("summary") or "test notification")
        fields: dict[str, Any] = {"notification_id": notification.dedup_key, "kind": kind, "project": project_name}
        return Message(f"[flowdeck {project_name}] TEST: {text}", f"{text}\n\nproject: {project_name}\n"
                       f"notification: {notification.dedup_key}", "info", fields)
    alert: dict[str, Any] = payload.get("alert", {})
    annotations: dict[str, Any] = alert.get("annotations", {})
    labels: dict[str, str] = alert.get("labels", {})
    state = {"firing": "FIRING", "reminder": "STILL FIRING", "resolved": "RESOLVED"}.get(kind, kind.upper())
    title = f"[{state}:{alert.get('severity')}] {alert.get('summary')} ({project_name})"
    lines = [str(alert.get("summary")), ""]
    facts = [
        ("status", "resolved" if kind == "resolved" else "firing"),
        ("severity", alert.get("severity")),
        ("rule", alert.get("rule")),
        ("pipeline", labels.get("pipeline")),
        ("step", labels.get("step") or annotations.get("step")),
        ("check", labels.get("check")),
        ("run", annotations.get("run_id") or alert.get("run_id")),
        ("error", annotations.get("error")),
        ("details", annotations.get("description")),
        ("resolved by", annotations.get("resolved_by")),
        ("firing since", alert.get("starts_at")),
        ("resolved at", alert.get("ends_at")),
        ("occurrences", alert.get("occurrences")),
    ]
    lines += [f"{name}: {value}" for name, value in facts if value not in (None, "")]
    extra = {key: value for key, value in labels.items() if key not in ("pipeline", "step", "check")}
    if extra:
        lines.append("labels: " + ", ".join(f"{key}={value}" for key, value in sorted(extra.items())))
    lines += ["", f"project: {project_name}", f"fingerprint: {alert.get('fingerprint')}",
              f"notification: {notification.dedup_key}"]
    notify_type = _NOTIFY_TYPE.get(kind, "info") if kind != "firing" else _SEVERITY_TYPE.get(
        str(alert.get("severity")), "failure")
    fields = {
        "notification_id": notification.dedup_key, "kind": kind,
        "status": "resolved" if kind == "resolved" else "firing", "project": project_name,
        "rule": alert.get("rule"), "severity": alert.get("severity"), "pipeline": labels.get("pipeline"),
        "step": labels.get("step") or annotations.get("step"), "run_id": annotations.get("run_id") or alert.get("run_id"),
        "fingerprint": alert.get("fingerprint"), "alert": alert,
    }
    return Message(title, "\n".join(lines), notify_type, fields)


def deliver(name: str, channel: Channel, notification: Notification, project: Project, ledger: Ledger) -> None:
    """Send one notification on one channel; raise ``DeliveryError`` if the channel did not take it.

    A channel type a plugin adds is delivered by the plugin's ``deliver`` (the channels' registry).
    """
    message = compose(notification, project.config.name)
    declared = registry.channels.get(channel.type)
    if declared is not None:
        _deliver_by_plugin(name, declared, channel, message, project)
        return
    if channel.type == "console":
        level = {"failure": "error", "warning": "warning"}.get(message.notify_type, "info")
        ledger.log(message.fields.get("run_id") if notification.kind != "test" else None, message.title,
                   kind=TOAST_EVENT, level=level,
                   payload={"notification_id": notification.dedup_key, "kind": notification.kind,
                            "fingerprint": notification.fingerprint, "severity": message.fields.get("severity"),
                            "rule": message.fields.get("rule"), "pipeline": message.fields.get("pipeline"),
                            "summary": (message.fields.get("alert") or {}).get("summary") or message.title,
                            "detail": _first_line(((message.fields.get("alert") or {}).get("annotations") or {})
                                                  .get("error"))})
        return
    assert channel.url is not None
    try:
        url = resolve(channel.url, project)
    except FlowdeckError as error:  # a secret that is not set: no retry sets it
        hint = f" ({error.hint})" if error.hint else ""
        raise DeliveryError(f"channel {name}: {error.what}{hint}", misconfigured=True) from None
    _send_apprise(name, channel, url, message)


def _deliver_by_plugin(name: str, declared: ChannelKind, channel: Any, message: Message, project: Project) -> None:
    """Hand a message to a plugin's channel; whatever else it raises is a failed delivery, masked, tried again."""
    try:
        declared.deliver(name, channel, message, project)
    except DeliveryError:
        raise
    except Exception as error:  # a plugin's bug or its service's failure must not stop the sender
        raise DeliveryError(f"channel {name}: {type(error).__name__}: {mask(str(error))}") from None


def _send_apprise(name: str, channel: Channel, url: str, message: Message) -> None:
    import apprise

    body = message.title if channel.type == "sms" else message.body
    asset = apprise.AppriseAsset(storage_mode="memory")  # Apprise keeps no files: nothing under $HOME
    try:
        if channel.type == "webhook":
            from apprise.plugins.custom_json import NotifyJSON

            parsed = NotifyJSON.parse_url(url)
            if not parsed:
                raise DeliveryError(f"channel {name}: not a json:// or jsons:// URL", misconfigured=True)
            parsed["payload"] = {**(parsed.get("payload") or {}), "flowdeck": message.fields}
            service = apprise.Apprise.instantiate(parsed, asset=asset)
        else:
            service = apprise.Apprise.instantiate(url, asset=asset)
    except DeliveryError:
        raise
    except Exception as error:  # Apprise raises a variety of things on a malformed URL
        raise DeliveryError(f"channel {name}: Apprise cannot use its url: {mask(str(error))}",
                            misconfigured=True) from None
    if service is None:
        raise DeliveryError(f"channel {name}: Apprise does not recognise its url (check the scheme and the "
                            "fields it needs)", misconfigured=True)
    sender = apprise.Apprise(asset=asset)
    sender.add(service)
    result = sender.notify(body=body, title="" if channel.type == "sms" else message.title,
                           notify_type=apprise.NotifyType(message.notify_type))
    if not result:
        problems = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")]
        reason = "; ".join(problems[-3:]) or "the service did not accept it"
        raise DeliveryError(f"channel {name}: {mask(reason)}")


_MAIL_SERVER = re.compile(r"^mailtos?://(?:[^@/?]*@)?(?P<host>[^/?:]+)(?::(?P<port>\d+))?")
# a mail server on this machine that keeps what it receives, for trying alerts without one (aiosmtpd's own CLI)
LOCAL_MAIL_SINK = "python -m aiosmtpd -n -l 127.0.0.1:8025"


def delivery_hint(name: str, channel: Channel) -> str:
    """What to check when channel ``name`` did not take a notification: where its url points, and
    (for email) how to point it at a real relay or at a local sink to try alerts without one."""
    where = f"alerts.channels.{name}.url in flowdeck.yaml"
    if channel.type == "email":
        server = _MAIL_SERVER.match(channel.url or "")
        at = (f": here {server['host']}" + (f":{server['port']}" if server["port"] else "")) if server else ""
        return (f"flowdeck hands the mail to the server named in {where}{at}.\n"
                "  Point it at your mail relay, e.g. "
                "mailtos://USER:${secret:SMTP_PASSWORD}@smtp.example.com?from=etl@example.com&to=you@example.com,\n"
                f"  or, to try alerts on this machine, run a local mail sink (`{LOCAL_MAIL_SINK}`, after\n"
                "  `pip install aiosmtpd`; it prints each mail) and use "
                "mailto://127.0.0.1:8025?from=flowdeck@example.com&to=you@example.com")
    if channel.type == "webhook":
        return f"flowdeck POSTs JSON to the server named in {where} (json:// for http, jsons:// for https): is it up?"
    return f"check {where} (the Apprise URL of the service and its credentials; docs/alerting.md)"


def _first_line(text: object) -> str | None:
    return str(text).strip().splitlines()[0] if text else None
