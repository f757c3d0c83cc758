"""Monitoring settings: how often a running run is sampled and its samples written."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from flowdeck.engine.project.config.fields import Duration, Model


class MonitoringConfig(Model):
    """How runs are sampled while they execute."""

    sample_interval: Duration = Field(
        default=timedelta(seconds=1), description="how often CPU, memory, I/O and query progress are sampled",
        examples=["2s"],
    )
    flush_interval: Duration = Field(
        default=timedelta(seconds=3), description="samples are written to the ledger in batches this often",
        examples=["5s"],
    )
