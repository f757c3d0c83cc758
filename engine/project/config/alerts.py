"""Alerting settings: the built-in rules, a pipeline's overrides, channels, routes and delivery retries."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, Union

from pydantic import ConfigDict, Field, model_validator

from flowdeck.engine.plugins import registry
from flowdeck.engine.plugins.pluggable import Pluggable
from flowdeck.engine.project.config.fields import Duration, Identifier, Model
from flowdeck.engine.secrets.references import has_reference

Severity = Literal["critical", "warning", "info"]


class Rule(Model):
    """A built-in alert rule: on or off, its severity, and labels added to its alerts."""

    enabled: bool = Field(default=True, description="false turns the rule off", examples=[False])
    severity: Severity | None = Field(
        default=None, description="critical, warning or info; each rule has its own default",
        examples=["warning"],
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="extra labels for routing, e.g. {team: finance}",
        examples=[{"team": "finance"}],
    )
    environments: list[Identifier] = Field(
        default_factory=lambda: ["prod"],
        description="the environments whose runs this rule watches; a development environment's runs raise no "
        "alert unless it is named here (docs/environments.md)",
        examples=[["prod", "dev"]],
    )


class SlowRunRule(Rule):
    """A run slower than usual (``factor`` times the median of recent successful runs) or past a deadline."""

    factor: float = Field(
        default=3.0, gt=1.0, description="slower than this many times the usual duration fires",
        examples=[2.5],
    )
    history: int = Field(
        default=20, ge=1, description="how many recent successful runs make the usual duration",
        examples=[30],
    )
    min_runs: int = Field(default=5, ge=1, description="no comparison before this many successful runs", examples=[10])
    min_duration: Duration = Field(
        default=timedelta(seconds=60), description="runs shorter than this never count as slow (noise on tiny runs)",
        examples=["5m"],
    )
    deadline: Duration | None = Field(
        default=None, description="a run still running (or ending) after this long fires",
        examples=["2h"],
    )


class StaleRule(Rule):
    """No successful run of the pipeline within ``after``: its data is stale."""

    after: Duration | None = Field(
        default=None, description="the window; off until set, e.g. 26h for a daily pipeline",
        examples=["26h"],
    )


class DaemonRule(Rule):
    """The daemon stopped heartbeating, or has been unready, for longer than ``after``."""

    after: Duration = Field(default=timedelta(minutes=2), description="how long before it alerts", examples=["5m"])


class AlertRules(Model):
    """The built-in rules; each has sensible defaults, change only what you need."""

    run_failed: Rule = Field(
        default_factory=Rule, description="a run failed (critical)",
        examples=[{"severity": "warning"}],
    )
    run_abandoned: Rule = Field(
        default_factory=Rule, description="a run's process died (critical)",
        examples=[{"enabled": False}],
    )
    check_failed: Rule = Field(
        default_factory=Rule, description="a check with severity error failed (critical)",
        examples=[{"labels": {"team": "data-quality"}}],
    )
    check_warned: Rule = Field(
        default_factory=Rule, description="a check with severity warn found rows (warning)",
        examples=[{"severity": "info"}],
    )
    run_slow: SlowRunRule = Field(
        default_factory=SlowRunRule, description="slower than usual or past a deadline (warning)",
        examples=[{"factor": 2, "deadline": "2h"}],
    )
    schedule_missed: Rule = Field(
        default_factory=Rule, description="a scheduled slot was missed or could not run (warning)",
        examples=[{"severity": "critical"}],
    )
    data_stale: StaleRule = Field(
        default_factory=StaleRule, description="no successful run within a window (warning)",
        examples=[{"after": "26h"}],
    )
    daemon_unhealthy: DaemonRule = Field(
        default_factory=DaemonRule, description="the daemon is down or unready (critical)",
        examples=[{"after": "5m"}],
    )


class PipelineAlerts(Model):
    """A pipeline's own alert settings: labels, and rule settings overriding flowdeck.yaml's."""

    labels: dict[str, str] = Field(
        default_factory=dict, description="labels added to every alert of this pipeline",
        examples=[{"team": "finance"}],
    )
    run_failed: Rule | None = Field(
        default=None, description="a run of this pipeline failed; the project's rule when omitted",
        examples=[{"severity": "warning"}],
    )
    run_abandoned: Rule | None = Field(
        default=None, description="a run's process died; the project's rule when omitted",
        examples=[{"enabled": False}],
    )
    check_failed: Rule | None = Field(
        default=None, description="a check with severity error failed; the project's rule when omitted",
        examples=[{"severity": "warning"}],
    )
    check_warned: Rule | None = Field(
        default=None, description="a check with severity warn found rows; the project's rule when omitted",
        examples=[{"enabled": False}],
    )
    run_slow: SlowRunRule | None = Field(
        default=None, description="slower than usual or past a deadline; the project's rule when omitted",
        examples=[{"deadline": "45m"}],
    )
    schedule_missed: Rule | None = Field(
        default=None, description="a scheduled slot was missed; the project's rule when omitted",
        examples=[{"severity": "critical"}],
    )
    data_stale: StaleRule | None = Field(
        default=None, description="no successful run within a window; the project's rule when omitted",
        examples=[{"after": "26h"}],
    )


CHANNEL_TYPES = ("email", "slack", "webhook", "sms", "console")


class Channel(Model):
    """Where notifications go: an Apprise URL whose credentials are ``${secret:NAME}`` or ``${env:NAME}`` references."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"type": "email", "url": "mailtos://alerts:${secret:SMTP_PASSWORD}@smtp.example.com?from=etl@example.com&to=oncall@example.com"}]})

    type: Literal["email", "slack", "webhook", "sms", "console"] = Field(
        description="email (mailto:// or mailtos://), slack, webhook (json:// or jsons://), sms (an Apprise SMS "
        "service such as twilio://), console (a toast in open consoles; no url)",
        examples=["email"],
    )
    url: str | None = Field(
        default=None, description="the Apprise URL; credentials only as ${secret:NAME} or ${env:NAME}",
        examples=["mailtos://alerts:${secret:SMTP_PASSWORD}@smtp.example.com?from=etl@example.com&to=oncall@example.com"],
    )
    send_resolved: bool = Field(
        default=True, description="also tell this channel when an alert resolves",
        examples=[False],
    )

    @model_validator(mode="after")
    def _url_fits_type(self) -> Channel:
        if self.type == "console":
            if self.url:
                raise ValueError("a console channel has no url")
            return self
        if not self.url:
            raise ValueError(f"a {self.type} channel needs a url (an Apprise URL)")
        whole_reference = self.url.startswith("${")  # the whole URL kept in the secrets store: checked when sent
        scheme = self.url.split("://", 1)[0].lower() if "://" in self.url else ""
        expected = {"email": ("mailto", "mailtos"), "webhook": ("json", "jsons")}.get(self.type)
        if expected and scheme not in expected and not whole_reference:
            raise ValueError(f"a {self.type} channel's url starts with {' or '.join(e + '://' for e in expected)}")
        if self.type == "slack" and scheme not in ("slack", "https") and not whole_reference:
            raise ValueError("a slack channel's url is slack://... or https://hooks.slack.com/services/...")
        # (credentials written literally anywhere in YAML are refused by engine/secrets/literals.py)
        if self.type in ("slack", "sms") and not has_reference(self.url):
            raise ValueError(f"a {self.type} url carries its credentials (tokens); write them as ${{secret:NAME}} "
                             "or ${env:NAME}, or the whole url as one reference")
        return self


ChannelSettings = Annotated[Channel, Pluggable(registry.channels, "channel type")]
"""A channel of ``alerts.channels``: a built-in type (``Channel``) or one a plugin adds."""


class Route(Model):
    """Which alerts go to which channels: the first route whose ``match`` fits wins (unless ``continue``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    match: dict[str, Union[str, list[str]]] = Field(
        default_factory=dict,
        description="label → value (or list of values) an alert must have; labels: severity, rule, pipeline, "
        "step, and your own; empty matches everything",
        examples=[{"severity": "critical", "team": ["finance", "sales"]}],
    )
    channels: list[Identifier] = Field(
        min_length=1, description="channel names from alerts.channels",
        examples=[["ops_email", "console"]],
    )
    repeat_interval: Duration | None = Field(
        default=None, description="remind of a still-firing alert this often; alerts.repeat_interval when omitted",
        examples=["30m"],
    )
    continue_matching: bool = Field(
        default=False, alias="continue", description="also try the next routes after this one matched",
        examples=[True],
    )


class RetryPolicy(Model):
    """How the sender retries a notification a channel did not take."""

    initial: Duration = Field(
        default=timedelta(seconds=10), description="wait before the first retry; doubles each time",
        examples=["30s"],
    )
    max: Duration = Field(
        default=timedelta(minutes=10), description="the longest wait between two tries",
        examples=["30m"],
    )
    give_up_after: Duration = Field(
        default=timedelta(days=1), description="stop trying after this long (the notification stays visible, failed)",
        examples=["12h"],
    )


class AlertsConfig(Model):
    """Alert rules, channels, routes and delivery (see docs/alerting.md)."""

    rules: AlertRules = Field(
        default_factory=AlertRules, description="the built-in alert rules and their settings",
        examples=[{"data_stale": {"after": "26h"}}],
    )
    channels: dict[Identifier, ChannelSettings] = Field(
        default_factory=dict, description="named channels; `console` (toasts in open consoles) always exists",
        examples=[{"ops_email": {"type": "email", "url": "mailtos://alerts:${secret:SMTP_PASSWORD}@smtp.example.com?from=etl@example.com&to=oncall@example.com"}}],
    )
    routes: list[Route] = Field(
        default_factory=lambda: [Route(channels=["console"])],
        description="ordered routes; by default every alert goes to the console",
        examples=[[{"match": {"severity": ["critical", "warning"]}, "channels": ["console"]}]],
    )
    repeat_interval: Duration = Field(
        default=timedelta(hours=4), description="remind of a still-firing alert this often (per channel)",
        examples=["1h"],
    )
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy, description="how the sender retries a notification a channel refused",
        examples=[{"give_up_after": "6h"}],
    )

    @model_validator(mode="after")
    def _routes_name_channels(self) -> AlertsConfig:
        known = set(self.channels) | {"console"}
        for index, route in enumerate(self.routes, start=1):
            for name in route.channels:
                if name not in known:
                    raise ValueError(f"route {index} sends to channel `{name}`, which alerts.channels does not define "
                                     f"(known: {', '.join(sorted(known))})")
        return self
