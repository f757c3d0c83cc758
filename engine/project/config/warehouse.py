"""The DuckDB warehouse published tables live in, and the project-wide defaults of runs."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from flowdeck.engine.project.config.fields import Duration, Model, SecretReference
from flowdeck.engine.project.config.steps import Retries


class WarehouseConfig(Model):
    """The DuckDB database that published tables live in."""

    path: str = Field(
        default="warehouse.duckdb", description="relative to the runtime directory",
        examples=["shop.duckdb"],
    )
    threads: int | None = Field(
        default=None, ge=1, description="DuckDB threads; DuckDB's default when omitted",
        examples=[4],
    )
    memory_limit: str | None = Field(
        default=None, description="e.g. 4GB; DuckDB's default (80% of RAM) when omitted",
        examples=["4GB"],
    )
    lock_timeout: Duration = Field(
        default=timedelta(seconds=60), description="how long a run waits for another process to release the warehouse",
        examples=["10m"],
    )
    encrypt: bool = Field(
        default=False,
        description="keep the warehouse encrypted at rest (AES-GCM); needs DuckDB's httpfs extension, see docs/security.md",
        examples=[True],
    )
    encryption_key: SecretReference = Field(
        default="${secret:WAREHOUSE_KEY}", description="where the warehouse key is (with encrypt: true)",
        examples=["${secret:WAREHOUSE_KEY}"],
    )
    extension_directory: str | None = Field(
        default=None,
        description="a local folder of DuckDB extensions (air-gapped servers), relative to the project; "
        "holds v<duckdb version>/<platform>/httpfs.duckdb_extension",
        examples=["vendor/duckdb-extensions"],
    )


class Defaults(Model):
    """Project-wide defaults that pipelines may override."""

    max_parallel_steps: int = Field(
        default=4, ge=1, description="independent steps of a run executed at once",
        examples=[2],
    )
    retries: Retries = Field(
        default_factory=Retries, description="retries of steps that set none",
        examples=[{"attempts": 3, "backoff": "5s"}],
    )
