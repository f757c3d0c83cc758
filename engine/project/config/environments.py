"""Environments: who may promote one to prod, and whether its SQL unit tests must pass first."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flowdeck.engine.project.config.fields import Model


class EnvironmentsConfig(Model):
    """What `flowdeck env promote` asks before an environment's tables become prod's (docs/environments.md)."""

    promote_role: Literal["operator", "admin"] = Field(
        default="admin", description="the least role that may promote an environment to prod",
        examples=["operator"],
    )
    require_tests: bool = Field(
        default=False, description="run the SQL unit tests of the steps being promoted first, and refuse the promote "
        "when one fails (an admin may pass --skip-tests)",
        examples=[True],
    )
