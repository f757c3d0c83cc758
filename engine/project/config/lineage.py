"""Lineage events for a data catalog: OpenLineage, sent over HTTP, written to a file or printed."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from flowdeck.engine.project.config.fields import Duration, Model, SecretReference


class OpenLineageConfig(Model):
    """Where flowdeck's OpenLineage events go: a catalog's HTTP API (Marquez, DataHub, OpenMetadata, ...), a file, or the console."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"transport": "http", "url": "http://marquez.example.com:5000", "namespace": "shop"}]})

    transport: Literal["http", "file", "console"] = Field(
        default="http", description="http: POST each event to `url`; file: append one JSON line an event to `path`; "
        "console: print them on stderr, one a line (to try it)",
        examples=["console"],
    )
    url: str | None = Field(
        default=None, pattern=r"^(https?://|\$\{)", description="http: the catalog's base URL",
        examples=["http://marquez.example.com:5000"],
    )
    endpoint: str = Field(default="api/v1/lineage", description="http: the path events are POSTed to, under `url`",
                          examples=["api/v1/lineage"])
    api_key: SecretReference | None = Field(
        default=None, description="http: a bearer token, as a reference", examples=["${secret:MARQUEZ_API_KEY}"])
    timeout: Duration = Field(default=timedelta(seconds=5), description="http: how long one POST may take",
                              examples=["10s"])
    path: str | None = Field(default=None, description="file: the file events are appended to, relative to the project",
                             examples=["lineage/events.jsonl"])
    namespace: str | None = Field(
        default=None, description="the jobs' namespace in the catalog; the project's `name` when omitted",
        examples=["shop-etl"],
    )
    give_up_after: Duration = Field(
        default=timedelta(days=2),
        description="an event the catalog has not taken by then is given up (and kept in the ledger as failed)",
        examples=["7d"],
    )

    @model_validator(mode="after")
    def _settings_of_transport(self) -> OpenLineageConfig:
        if self.transport == "http" and not self.url:
            raise ValueError("the http transport needs `url:` (the catalog's base URL)")
        if self.transport == "file" and not self.path:
            raise ValueError("the file transport needs `path:` (the file events are appended to)")
        return self


class LineageConfig(Model):
    """Lineage sent to other systems as runs happen (docs/lineage.md)."""

    openlineage: OpenLineageConfig | None = Field(
        default=None, description="send OpenLineage run events (START, COMPLETE, FAIL, ABORT) for every run and step",
        examples=[{"transport": "http", "url": "http://marquez.example.com:5000"}],
    )
