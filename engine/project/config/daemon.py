"""The headless daemon's settings: workers, shutdown, connection checks and its HTTP endpoints."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from flowdeck.engine.project.config.fields import Duration, Identifier, Model, SecretReference

Role = Literal["viewer", "operator", "admin"]


class RoleToken(Model):
    """A bearer token that acts with a role: to trigger runs (POST /runs) or open the web console."""

    token: SecretReference = Field(
        description="the token, as a reference to a secret (`flowdeck secrets set NAME --generate`)",
        examples=["${secret:CI_RUNS_TOKEN}"],
    )
    role: Role = Field(
        description="what requests carrying it may do: viewer (read), operator (also run, cancel), admin",
        examples=["operator"],
    )


class HttpConfig(Model):
    """Where the daemon serves /healthz, /readyz, /status, /metrics and /runs, and who may ask."""

    host: str = Field(
        default="127.0.0.1", description="address to listen on; loopback unless you mean otherwise",
        examples=["10.0.0.5"],
    )
    port: int = Field(
        default=8791, ge=0, le=65535, description="TCP port; 0 picks a free one (see `flowdeck status`)",
        examples=[9100],
    )
    token: SecretReference | None = Field(
        default=None,
        description="bearer token every endpoint but /healthz requires; needed to bind beyond loopback "
        "(e.g. ${secret:DAEMON_HTTP_TOKEN}, see docs/security.md)",
        examples=["${secret:DAEMON_HTTP_TOKEN}"],
    )
    tokens: dict[Identifier, RoleToken] = Field(
        default_factory=dict,
        description="named tokens that act with a role: POST /runs needs one whose role may run; they also read "
        "every endpoint, and open the web console (see docs/security.md); the name is the actor in the audit log",
        examples=[{"ci": {"token": "${secret:CI_RUNS_TOKEN}", "role": "operator"}}],
    )
    allow: list[str] | None = Field(
        default=None,
        description="addresses (CIDR) that may connect; any other gets 403 before its token is looked at; "
        "everyone when omitted",
        examples=[["10.20.0.0/16", "127.0.0.1/32"]],
    )

    @field_validator("allow")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or []:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an address or a network such as 10.20.0.0/16 or ::1/128") from None
        return value


class DaemonConfig(Model):
    """The headless daemon (`flowdeck daemon`)."""

    workers: int = Field(
        default=1,
        ge=1,
        description="runs executed at once; each holds the DuckDB warehouse for its whole length, so more than "
        "1 only makes runs wait for each other (see docs/daemon.md)",
        examples=[1],
    )
    shutdown_grace: Duration = Field(
        default=timedelta(seconds=30),
        description="on SIGTERM, how long running steps may take to finish before they are interrupted",
        examples=["2m"],
    )
    http: HttpConfig = Field(
        default_factory=HttpConfig, description="the daemon's HTTP endpoints",
        examples=[{"host": "127.0.0.1", "port": 9100}],
    )
    connection_checks: Duration | None = Field(
        default=timedelta(seconds=60),
        description="how often the daemon checks that each connection (with health_check: true) answers; "
        "null turns the checks off",
        examples=["5m"],
    )
