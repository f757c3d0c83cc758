"""Where and how Spark runs when it is the project's engine."""

from __future__ import annotations

from pydantic import Field

from flowdeck.engine.project.config.fields import Model


class SparkConfig(Model):
    """Where Spark runs when `engine: spark` (or `--engine spark`): a Spark Connect server or a master URL."""

    remote: str | None = Field(
        default=None, pattern=r"^sc://",
        description="Spark Connect URL of a running server, e.g. sc://spark.example.net:15002 (needs only pyspark-client)",
        examples=["sc://spark.example.net:15002"],
    )
    master: str = Field(
        default="local[*]",
        description="used when `remote` is not set: flowdeck starts Spark in-process with this master (local[*] to "
        "try it, spark://host:7077 or yarn for a cluster) and talks to it through Spark Connect on 127.0.0.1",
        examples=["spark://spark-master.example.net:7077"],
    )
    warehouse: str | None = Field(
        default=None,
        description="where published Spark outputs and commit markers are stored: a path or URI the cluster sees "
        "(s3a://bucket/flowdeck, hdfs://…); spark-warehouse in the runtime directory when omitted",
        examples=["s3a://analytics-bucket/flowdeck"],
    )
    driver_memory: str = Field(default="1g", description="memory of the in-process Spark driver (master mode)",
                               examples=["4g"])
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="extra Spark settings, e.g. {spark.executor.memory: 4g}; the time zone (UTC), ANSI mode (on) "
        "and TIMESTAMP type (without time zone) are fixed so results match DuckDB",
        examples=[{"spark.executor.memory": "4g"}],
    )
