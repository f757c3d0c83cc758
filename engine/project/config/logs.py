"""flowdeck's own log lines (the daemon's and its workers'): their format, level and where else they go."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from flowdeck.engine.project.config.fields import Model

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[str, ...] = ("text", "json")
SyslogFacility = Literal["user", "daemon", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]
# udp://host:port, tcp://host:port (IPv6 hosts in brackets), or the path of a local syslog socket
SYSLOG_NETWORK = re.compile(r"^(udp|tcp)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?$")


class LoggingConfig(Model):
    """Where the daemon and its workers log, and how: text or one JSON object a line, masked."""

    format: LogFormat = Field(
        default="text",
        description="text (for people) or json (one object a line: time, level, event, run_id, pipeline, step, "
        "message; for log shippers); `flowdeck daemon --log-format` overrides it",
        examples=["json"],
    )
    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="the least severe records written", examples=["warning"],
    )
    journald: bool | str = Field(
        default=False,
        description="also send every record to the systemd journal, with FLOWDECK_RUN_ID, FLOWDECK_PIPELINE, "
        "FLOWDECK_STEP and FLOWDECK_EVENT fields; true for /run/systemd/journal/socket, or the path of the "
        "journal's socket where it is mounted elsewhere",
        examples=[True],
    )
    syslog: str | None = Field(
        default=None,
        description="also send every record to syslog: udp://HOST:PORT, tcp://HOST:PORT (514 when the port is "
        "left out) or the path of a local socket such as /dev/log",
        examples=["udp://127.0.0.1:514"],
    )
    syslog_facility: SyslogFacility = Field(
        default="daemon", description="the syslog facility records are sent with", examples=["local0"],
    )

    @field_validator("syslog")
    @classmethod
    def _syslog_address(cls, value: str | None) -> str | None:
        if value is None or value.startswith("/") or SYSLOG_NETWORK.match(value):
            return value
        raise ValueError("expected udp://HOST:PORT, tcp://HOST:PORT or the absolute path of a syslog socket "
                         "(such as /dev/log)")

    @field_validator("journald")
    @classmethod
    def _journal_socket(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and not value.startswith("/"):
            raise ValueError("expected true, false or the absolute path of the journal's socket")
        return value
