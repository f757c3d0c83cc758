"""The operator console's settings."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from flowdeck.engine.project.config.fields import Duration, Model, SecretReference


class WebConsoleConfig(Model):
    """The console in a browser (`flowdeck console --web`), served through textual-serve."""

    host: str = Field(
        default="127.0.0.1",
        description="address to listen on; any other than loopback needs a token and TLS (or a reverse proxy "
        "terminating TLS, named by public_url): see docs/console.md",
        examples=["0.0.0.0"],
    )
    port: int = Field(default=8793, ge=1, le=65535, description="TCP port", examples=[8443])
    token: SecretReference | None = Field(
        default=None,
        description="a token of its own, asked of every browser (daemon.http.token and daemon.http.tokens are "
        "accepted too); required once set, even on loopback",
        examples=["${secret:CONSOLE_WEB_TOKEN}"],
    )
    public_url: str | None = Field(
        default=None,
        description="the address browsers use when a reverse proxy stands in front (https://... when it "
        "terminates TLS)",
        examples=["https://flowdeck.example.com"],
    )
    tls_certificate: str | None = Field(
        default=None, description="PEM certificate (chain) to serve HTTPS with, relative to the project",
        examples=["/etc/flowdeck/tls/console.pem"],
    )
    tls_key: str | None = Field(
        default=None, description="PEM private key of tls_certificate, relative to the project",
        examples=["/etc/flowdeck/tls/console.key"],
    )


class ConsoleConfig(Model):
    """The operator console (`flowdeck console`)."""

    theme: str = Field(
        default="flowdeck-dark", description="a theme from themes/ (flowdeck-dark, flowdeck-light, ansi, nord, ...)",
        examples=["ansi"],
    )
    read_only: bool = Field(
        default=False, description="open the console read-only, as `--read-only` does",
        examples=[True],
    )
    mouse: bool = Field(
        default=True, description="accept mouse input; turn off if a terminal garbles mouse reports",
        examples=[False],
    )
    refresh: Duration = Field(
        default=timedelta(milliseconds=500),
        description="how often the console looks for new ledger events (runs started anywhere appear this fast)",
        examples=["1s"],
    )
    preview_rows: int = Field(
        default=200, ge=1, le=5000, description="rows shown by the data preview of a table",
        examples=[500],
    )
    web: WebConsoleConfig = Field(
        default_factory=WebConsoleConfig, description="the console in a browser (`flowdeck console --web`)",
        examples=[{"host": "127.0.0.1", "port": 8793}],
    )
