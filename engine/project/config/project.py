"""flowdeck.yaml, the project file: every section of the project's configuration together."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flowdeck.engine.project.config.alerts import AlertsConfig
from flowdeck.engine.project.config.connections import ConnectionSettings
from flowdeck.engine.project.config.console import ConsoleConfig
from flowdeck.engine.project.config.daemon import DaemonConfig
from flowdeck.engine.project.config.environments import EnvironmentsConfig
from flowdeck.engine.project.config.fields import Identifier, Model
from flowdeck.engine.project.config.lineage import LineageConfig
from flowdeck.engine.project.config.logs import LoggingConfig
from flowdeck.engine.project.config.monitoring import MonitoringConfig
from flowdeck.engine.project.config.security import RetentionConfig, RolesConfig, SecurityConfig
from flowdeck.engine.project.config.spark import SparkConfig
from flowdeck.engine.project.config.warehouse import Defaults, WarehouseConfig


class ProjectConfig(Model):
    """flowdeck.yaml at the root of a project."""

    name: str = Field(default="flowdeck", description="shown in the console and in alerts", examples=["example-shop"])
    runtime_dir: str = Field(
        default=".flowdeck", description="warehouse, ledger, logs and temporary files; relative to the project",
        examples=["/var/lib/flowdeck/shop"],
    )
    pipelines_dir: str = Field(
        default="pipelines", description="folder holding one folder per pipeline",
        examples=["etl/pipelines"],
    )
    warehouse: WarehouseConfig = Field(
        default_factory=WarehouseConfig, description="the DuckDB warehouse",
        examples=[{"threads": 4, "memory_limit": "4GB"}],
    )
    engine: Literal["duckdb", "spark"] = Field(
        default="duckdb", description="what runs the steps: duckdb (embedded, the default) or spark (see `spark:`)",
        examples=["spark"],
    )
    spark: SparkConfig = Field(
        default_factory=SparkConfig, description="the Spark engine's connection and settings",
        examples=[{"remote": "sc://spark.example.com:15002"}],
    )
    connections: dict[Identifier, ConnectionSettings] = Field(
        default_factory=dict, description="databases that extract and load steps read from and write to, by name",
        examples=[{"sales_db": {"type": "postgresql", "uri": "postgresql://db.example.com:5432/sales", "user": "etl", "password": "${secret:SALES_DB_PASSWORD}"}}],
    )
    defaults: Defaults = Field(
        default_factory=Defaults, description="defaults that pipelines may override",
        examples=[{"max_parallel_steps": 2}],
    )
    daemon: DaemonConfig = Field(
        default_factory=DaemonConfig, description="the headless daemon",
        examples=[{"http": {"port": 8792}}],
    )
    roles: RolesConfig | None = Field(
        default=None, description="who may do what; without it everyone is admin (a single-user machine)",
        examples=[{"admins": ["alice"], "operators": ["@etl"]}],
    )
    environments: EnvironmentsConfig = Field(
        default_factory=EnvironmentsConfig, description="promoting a development environment to prod (docs/environments.md)",
        examples=[{"promote_role": "operator", "require_tests": True}],
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="how long runs, events and versions are kept",
        examples=[{"runs": "180d"}],
    )
    security: SecurityConfig = Field(
        default_factory=SecurityConfig, description="masking, audit and temporary-file settings",
        examples=[{"pii_hash_key": "${secret:PII_HASH_KEY}"}],
    )
    console: ConsoleConfig = Field(
        default_factory=ConsoleConfig, description="the operator console",
        examples=[{"theme": "ansi"}],
    )
    logging: LoggingConfig = Field(
        default_factory=LoggingConfig, description="the daemon's and its workers' log lines: text or JSON, "
        "forwarded to journald or syslog (docs/operations.md)",
        examples=[{"format": "json", "syslog": "udp://127.0.0.1:514"}],
    )
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig, description="what is measured while runs execute (docs/monitoring.md)",
        examples=[{"sample_interval": "2s"}],
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="alert rules, routes, channels and silences (docs/alerting.md)",
        examples=[{"channels": {"ops_email": {"type": "email", "url": "mailtos://alerts:${secret:SMTP_PASSWORD}@smtp.example.com?from=etl@example.com&to=oncall@example.com"}}, "routes": [{"match": {"severity": "critical"}, "channels": ["ops_email", "console"]}]}],
    )
    lineage: LineageConfig = Field(
        default_factory=LineageConfig, description="lineage events for a data catalog (OpenLineage)",
        examples=[{"openlineage": {"transport": "http", "url": "http://marquez.example.com:5000"}}],
    )
