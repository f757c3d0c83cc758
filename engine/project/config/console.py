"""The operator console's settings."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from flowdeck.engine.project.config.fields import Duration, Model


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
