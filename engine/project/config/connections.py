"""Database connections that extract and load steps read from and write to."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from flowdeck.engine.plugins import registry
from flowdeck.engine.plugins.pluggable import Pluggable
from flowdeck.engine.project.config.fields import Duration, Model, SecretReference


class ConnectionConfig(Model):
    """A database flowdeck reads from or writes to through Arrow ADBC (see docs/connectors.md)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"type": "postgresql", "uri": "postgresql://db.example.com:5432/sales"}]})

    type: Literal["postgresql", "sqlite"] = Field(description="the kind of database", examples=["postgresql"])
    uri: str = Field(
        description="postgresql: `postgresql://host:port/database` (no password in it); sqlite: the database "
        "file, relative to the project",
        examples=["postgresql://db.example.com:5432/sales"],
    )
    user: str | None = Field(
        default=None, description="postgresql: the user to log in as (or in the URI)",
        examples=["etl"],
    )
    password: SecretReference | None = Field(
        default=None, description="postgresql: a reference to the password, e.g. ${secret:SALES_DB}",
        examples=["${secret:SALES_DB_PASSWORD}"],
    )
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = Field(
        default=None, description="postgresql: TLS mode, passed to libpq (its default, prefer, when omitted)",
        examples=["verify-full"],
    )
    sslrootcert: str | None = Field(
        default=None, description="postgresql: CA certificate file the server's certificate is checked against "
        "(verify-ca, verify-full); relative to the project",
        examples=["certs/db-ca.pem"],
    )
    sslcert: str | None = Field(
        default=None, description="postgresql: client certificate file, relative to the project",
        examples=["certs/etl.crt"],
    )
    sslkey: str | None = Field(
        default=None, description="postgresql: client key file, relative to the project",
        examples=["certs/etl.key"],
    )
    connect_timeout: Duration = Field(
        default=timedelta(seconds=10), description="how long connecting may take before it counts as unreachable",
        examples=["30s"],
    )
    health_check: bool = Field(
        default=True, description="whether the daemon checks this connection on its schedule and reports it in /readyz",
        examples=[False],
    )

    @model_validator(mode="after")
    def _settings_of_type(self) -> ConnectionConfig:
        if self.type == "sqlite":
            given = [name for name in ("user", "password", "sslmode", "sslrootcert", "sslcert", "sslkey")
                     if getattr(self, name) is not None]
            if given:
                raise ValueError(f"`{given[0]}` does not apply to a sqlite connection (a file on this machine)")
        elif not self.uri.startswith(("postgresql://", "postgres://")) and "${" not in self.uri:
            raise ValueError("a postgresql `uri` starts with postgresql://, e.g. postgresql://db.example.com:5432/sales")
        return self


ConnectionSettings = Annotated[ConnectionConfig, Pluggable(registry.connectors, "connection type")]
"""A connection of ``connections:``: a built-in type (``ConnectionConfig``) or one a plugin adds."""
