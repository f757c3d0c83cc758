"""The steps of a pipeline.yaml: extract, transform, check and load, with their sources, targets, checks and incremental settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Discriminator, Field, Tag, model_validator

from flowdeck.engine.plugins import registry
from flowdeck.engine.plugins.pluggable import Pluggable
from flowdeck.engine.project.config.fields import (
    Duration,
    Identifier,
    Model,
    Scalar,
    TagName,
    by_connection,
    one_or_many,
)
from flowdeck.engine.project.config.security import MASK_DESCRIPTION, MaskMethod, ParquetEncryption

# ---------------------------------------------------------------------------------------------
# checks


class AcceptedValues(Model):
    """The column holds only these values (NULL is allowed; add not_null to forbid it)."""

    column: str = Field(description="the column to check", examples=["status"])
    values: list[Scalar] = Field(description="the values allowed in it", examples=[["paid", "shipped", "delivered"]])


class RowCount(Model):
    """The table has between ``min`` and ``max`` rows."""

    min: int | None = Field(default=None, ge=0, description="fewest rows allowed", examples=[1])
    max: int | None = Field(default=None, ge=0, description="most rows allowed", examples=[1000000])


class Freshness(Model):
    """The newest value of a timestamp column is no older than ``max_age``."""

    column: str = Field(description="a timestamp or date column", examples=["updated_at"])
    max_age: Duration = Field(description="how old its newest value may be, e.g. 1d", examples=["26h"])


class Relationship(Model):
    """Every non-NULL value of ``column`` exists in ``to``.``field`` (a foreign key)."""

    column: str = Field(description="the referring column of the checked table", examples=["customer_id"])
    to: str = Field(description="the referred table", examples=["customers"])
    field: str = Field(description="the referred column", examples=["customer_id"])


class CheckSpec(Model):
    """One data-quality assertion. Give exactly one of the check kinds."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"not_null": ["order_id"]}]})

    name: str | None = Field(
        default=None, description="shown in messages; derived from the check when omitted",
        examples=["revenue_not_negative"],
    )
    severity: Literal["error", "warn"] = Field(
        default="error", description="error blocks publishing and fails the run; warn records and alerts",
        examples=["warn"],
    )
    not_null: list[str] | None = Field(
        default=None, description="columns that must not be NULL",
        examples=[["order_id", "customer_id"]],
    )
    unique: list[str] | None = Field(
        default=None, description="columns whose combination must be unique",
        examples=[["order_id"]],
    )
    accepted_values: AcceptedValues | None = Field(
        default=None, description="a column holds only listed values",
        examples=[{"column": "status", "values": ["paid", "shipped"]}],
    )
    row_count: RowCount | None = Field(
        default=None, description="the number of rows is within bounds",
        examples=[{"min": 1}],
    )
    freshness: Freshness | None = Field(
        default=None, description="the newest value of a column is recent enough",
        examples=[{"column": "updated_at", "max_age": "1d"}],
    )
    relationships: Relationship | None = Field(
        default=None, description="every value of a column exists in another table (a foreign key)",
        examples=[{"column": "customer_id", "to": "customers", "field": "customer_id"}],
    )
    sql: str | None = Field(
        default=None,
        description="custom check: a SELECT returning failing rows, inline or a .sql file beside pipeline.yaml",
        examples=["SELECT * FROM daily_sales WHERE revenue < 0"],
    )

    @model_validator(mode="before")
    @classmethod
    def _columns_as_list(cls, data: Any) -> Any:
        return one_or_many(data, "not_null", "unique")

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> CheckSpec:
        given = [kind for kind in CHECK_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"a check needs exactly one of {', '.join(CHECK_KINDS)} (found: {found})")
        return self

    @property
    def kind(self) -> str:
        """Which check this is (``not_null``, ``unique``, ...)."""
        return next(kind for kind in CHECK_KINDS if getattr(self, kind) is not None)


CHECK_KINDS = ("not_null", "unique", "accepted_values", "row_count", "freshness", "relationships", "sql")


# ---------------------------------------------------------------------------------------------
# sources and targets


class FileSource(Model):
    """Files read by an extract step through DuckDB's readers."""

    path: str = Field(
        description="a file or glob, relative to the project; `{param}` is replaced by a run parameter",
        examples=["landing/orders/{day}/*.csv"],
    )
    format: Literal["csv", "parquet", "json"] | None = Field(
        default=None, description="inferred from the file extension when omitted",
        examples=["csv"],
    )
    options: dict[str, Scalar | list[str] | dict[str, str]] = Field(
        default_factory=dict,
        description="options passed to DuckDB's read_csv / read_parquet / read_json, e.g. {header: true}",
        examples=[{"header": True, "delim": ";"}],
    )
    hive_partitioning: bool = Field(
        default=False, description="read `key=value` folder names as columns",
        examples=[True],
    )
    filename: bool = Field(
        default=False, description="add a `filename` column naming the source file of each row",
        examples=[True],
    )


class DatabaseSource(Model):
    """A table or a query of a database connection, read by an extract step through Arrow ADBC."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"connection": "sales_db", "table": "public.orders"}]})

    connection: Identifier = Field(
        description="a connection declared under `connections:` in flowdeck.yaml",
        examples=["sales_db"],
    )
    table: str | None = Field(
        default=None, description="a table (or view) of the source, optionally schema-qualified: `public.orders`",
        examples=["public.orders"],
    )
    query: str | None = Field(
        default=None,
        description="a SELECT in the source's own SQL dialect, run by the source (inline, or a .sql file beside "
        "pipeline.yaml)",
        examples=["SELECT * FROM orders WHERE status <> 'test'"],
    )

    @model_validator(mode="after")
    def _table_or_query(self) -> DatabaseSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("a database source needs exactly one of `table` or `query`")
        return self

    @property
    def label(self) -> str:
        """How lineage and messages name this source: ``connection:table`` or ``connection:query``."""
        return f"{self.connection}:{self.table or 'query'}"


ExtractSource = Annotated[
    Union[Annotated[FileSource, Tag("file")], Annotated[DatabaseSource, Tag("database")]],
    Discriminator(by_connection(DatabaseSource)),
]


class FileTarget(Model):
    """A file written by a load step: written beside, then renamed into place, its sha256 recorded."""

    path: str = Field(
        description="relative to the project; `{param}` is replaced by a run parameter",
        examples=["exports/daily_sales_{since}.parquet"],
    )
    format: Literal["parquet", "csv"] | None = Field(
        default=None, description="inferred from the extension",
        examples=["parquet"],
    )
    options: dict[str, Scalar] = Field(
        default_factory=dict, description="options of DuckDB's COPY, e.g. {compression: zstd}",
        examples=[{"compression": "zstd"}],
    )
    encrypt: ParquetEncryption | None = Field(
        default=None, description="encrypt the Parquet file (Parquet modular encryption, AES-GCM); parquet only",
        examples=[{"key": "${secret:EXPORT_KEY}"}],
    )
    order_by: list[str] | None = Field(
        default=None,
        description="columns the rows are sorted by, so that the same data always gives the same file; "
        "every column when omitted, [] to keep the table's order",
        examples=[["order_date", "country"]],
    )

    @model_validator(mode="before")
    @classmethod
    def _order_as_list(cls, data: Any) -> Any:
        return one_or_many(data, "order_by")


class DatabaseTarget(Model):
    """A table of a database connection written by a load step, in one transaction on the target."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"connection": "analytics_db", "table": "analytics.daily_sales", "mode": "upsert", "key": ["order_date", "country"]}]})

    connection: Identifier = Field(
        description="a connection declared under `connections:` in flowdeck.yaml",
        examples=["analytics_db"],
    )
    table: str = Field(description="the target table, optionally schema-qualified: `analytics.daily_sales`; "
                       "created from the loaded columns when missing", examples=["analytics.daily_sales"])
    mode: Literal["replace", "append", "upsert"] = Field(
        default="replace",
        description="replace: the table's rows become the loaded rows (the table itself, its grants and indexes "
        "stay); append: the rows are added; upsert: rows whose `key` exists are replaced, others added",
        examples=["upsert"],
    )
    key: list[str] | None = Field(
        default=None, description="upsert: the columns identifying a row",
        examples=[["order_date", "country"]],
    )

    @model_validator(mode="before")
    @classmethod
    def _key_as_list(cls, data: Any) -> Any:
        return one_or_many(data, "key")

    @model_validator(mode="after")
    def _key_with_upsert(self) -> DatabaseTarget:
        if self.mode == "upsert" and not self.key:
            raise ValueError("`mode: upsert` needs `key:` naming the columns that identify a row")
        if self.mode != "upsert" and self.key:
            raise ValueError(f"`key` only applies to `mode: upsert` (this target is `mode: {self.mode}`)")
        return self

    @property
    def label(self) -> str:
        """How lineage and messages name this target: ``connection:table``."""
        return f"{self.connection}:{self.table}"


LoadTarget = Annotated[
    Union[Annotated[FileTarget, Tag("file")], Annotated[DatabaseTarget, Tag("database")]],
    Discriminator(by_connection(DatabaseTarget)),
]


# ---------------------------------------------------------------------------------------------
# settings of a step: retries, incremental intervals


class Retries(Model):
    """How often a step is tried when it fails transiently (I/O errors, a busy resource)."""

    attempts: int = Field(
        default=1, ge=1, le=100, description="tries in all, the first included; 1 never retries",
        examples=[3],
    )
    backoff: Duration = Field(
        default=timedelta(seconds=1), description="wait before the second try; doubled before each further one",
        examples=["5s"],
    )
    max_backoff: Duration = Field(
        default=timedelta(minutes=5), description="the longest wait between two tries",
        examples=["1m"],
    )


class TimeRange(Model):
    """Process a time column of the delta source interval by interval, recording each one done."""

    column: str = Field(description="a DATE or TIMESTAMP column of the delta source", examples=["order_date"])
    unit: Literal["hour", "day", "week", "month"] = Field(
        default="day", description="the size of one interval",
        examples=["day"],
    )
    lookback: int = Field(
        default=0, ge=0, description="intervals before the newest processed one to read again (for late rows)",
        examples=[2],
    )


# ---------------------------------------------------------------------------------------------
# steps


class StepBase(Model):
    """What every step has."""

    name: Identifier = Field(examples=["orders_clean"])
    description: str | None = Field(
        default=None, description="what the step does, shown in the console",
        examples=["orders typed and de-duplicated"],
    )
    depends_on: list[str] = Field(
        default_factory=list, description="extra upstream steps, beyond those read in SQL",
        examples=[["raw_customers"]],
    )
    tags: list[TagName] = Field(
        default_factory=list, description="labels to select steps by: `flowdeck run PIPELINE --select tag:NAME`",
        examples=[["daily", "finance"]],
    )
    checks: list[CheckSpec] = Field(
        default_factory=list, description="checks run on the step's staged output before it is published",
        examples=[[{"not_null": ["order_id"]}]],
    )
    retries: Retries | None = Field(
        default=None, description="retries of transient failures; the project's `defaults.retries` when omitted",
        examples=[{"attempts": 3, "backoff": "10s"}],
    )
    always_run: bool = Field(
        default=False, description="run the step every time, even when nothing it depends on changed "
        "(its fingerprint is the current output's; docs/plans.md)",
        examples=[True],
    )


class PublishingStep(StepBase):
    """What every step that publishes a table has: its name and the versions kept of it."""

    output: Identifier | None = Field(
        default=None, description="table name; the step name when omitted",
        examples=["orders"],
    )
    versions: int | None = Field(
        default=None, ge=1, le=100,
        description="versions of the table kept for `flowdeck rollback`, the current one included; "
        "the project's `retention.output_versions` when omitted",
        examples=[5],
    )


class IncrementalStep(PublishingStep):
    """A publishing step that can merge new rows into its table instead of replacing it (`materialized: incremental`)."""

    unique_key: list[str] | None = Field(
        default=None, description="incremental: the columns that identify a row (required for incremental)",
        examples=[["order_id"]],
    )
    on_duplicate: Literal["error", "skip", "update", "keep"] = Field(
        default="error",
        description="incremental: what to do with an incoming row whose key already exists (in the table or "
        "earlier in the same batch): error fails the step, skip keeps the existing row, update replaces it "
        "with the latest by `order_by`, keep inserts it beside",
        examples=["update"],
    )
    order_by: list[str] | None = Field(
        default=None,
        description="incremental: columns ordering rows of one key, latest last (required by on_duplicate: update)",
        examples=[["updated_at"]],
    )
    watermark: str | None = Field(
        default=None,
        description="incremental: a column of the delta source that grows; only rows above the last value read "
        "are processed",
        examples=["updated_at"],
    )
    time_range: TimeRange | None = Field(
        default=None, description="incremental: process the delta source interval by interval instead",
        examples=[{"column": "order_date", "unit": "day", "lookback": 2}],
    )

    @model_validator(mode="before")
    @classmethod
    def _columns_as_lists(cls, data: Any) -> Any:
        return one_or_many(data, "unique_key", "order_by")

    @model_validator(mode="after")
    def _incremental_settings(self) -> IncrementalStep:
        incremental = getattr(self, "materialized", "table") == "incremental"
        if incremental and not self.unique_key:
            raise ValueError(
                f"step `{self.name}` is `materialized: incremental` but has no `unique_key`; add `unique_key: "
                "[column, ...]` naming the columns that identify a row, so a rerun cannot insert a row twice"
            )
        if not incremental:
            given = [key for key in ("unique_key", "order_by", "watermark", "time_range", "delta_source")
                     if getattr(self, key, None) is not None]
            if self.on_duplicate != "error":
                given.append("on_duplicate")
            if given:
                raise ValueError(
                    f"step `{self.name}`: `{given[0]}` only applies to `materialized: incremental` steps; "
                    "add `materialized: incremental` or remove it"
                )
        if self.on_duplicate == "update" and not self.order_by:
            raise ValueError(
                f"step `{self.name}` has `on_duplicate: update` but no `order_by`; add `order_by: [column]` so "
                "flowdeck knows which of two rows with the same key is the latest"
            )
        if self.watermark is not None and self.time_range is not None:
            raise ValueError(f"step `{self.name}` has both `watermark` and `time_range`; keep one of them")
        return self


class ExtractStep(IncrementalStep):
    """Read files, or a table or query of a database, into a table."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "landed_orders", "kind": "extract", "source": {"path": "landing/orders/*.csv"}, "materialized": "incremental", "unique_key": ["order_id"], "order_by": ["updated_at"]}]})

    kind: Literal["extract"] = Field(description="the step kind", examples=["extract"])
    source: ExtractSource = Field(
        description="files (`path:`) or a database table or query (`connection:` with `table:` or `query:`)",
        examples=[{"path": "data/orders/*.parquet", "hive_partitioning": True}],
    )
    mask: dict[str, MaskMethod] = Field(
        default_factory=dict, description=MASK_DESCRIPTION,
        examples=[{"email": "hash", "phone": "partial"}],
    )
    materialized: Literal["table", "incremental"] = Field(
        default="table",
        description="table replaces the table with every file read (or every row of a database source); "
        "incremental reads only new or changed files (or, from a database, rows above the `watermark`) and merges "
        "them by `unique_key`",
        examples=["incremental"],
    )


class TransformStep(IncrementalStep):
    """Materialise one SQL SELECT as a table, a view, or incrementally."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "orders", "kind": "transform", "sql": "orders.sql", "materialized": "incremental", "unique_key": ["order_id"], "order_by": ["updated_at"]}]})

    kind: Literal["transform"] = Field(description="the step kind", examples=["transform"])
    sql: str | None = Field(
        default=None, description="the .sql file beside pipeline.yaml; <name>.sql when omitted",
        examples=["orders_clean.sql"],
    )
    mask: dict[str, MaskMethod] = Field(
        default_factory=dict, description=MASK_DESCRIPTION,
        examples=[{"email": "hash"}],
    )
    materialized: Literal["table", "view", "incremental"] = Field(
        default="table",
        description="table replaces the table; view stores the query; incremental merges new rows by `unique_key`",
        examples=["view"],
    )
    delta_source: Identifier | None = Field(
        default=None,
        description="incremental: the table whose new rows are read (by `watermark` or `time_range`); "
        "the only table the query reads when omitted",
        examples=["raw_orders"],
    )


class CheckStep(StepBase):
    """Run checks on a published table; error-severity failures fail the run."""

    kind: Literal["check"] = Field(description="the step kind", examples=["check"])
    table: Identifier = Field(description="the published table to check", examples=["orders_clean"])


class LoadStep(StepBase):
    """Write a published table out to a file or into a database table."""

    kind: Literal["load"] = Field(description="the step kind", examples=["load"])
    table: Identifier = Field(description="the published table to write out", examples=["daily_sales"])
    to: LoadTarget = Field(
        description="a file (`path:`) or a database table (`connection:` and `table:`)",
        examples=[{"path": "exports/daily_sales.parquet", "options": {"compression": "zstd"}}],
    )


class PythonStep(PublishingStep):
    """Build a table with a Python function: the input tables in (Arrow or DuckDB relations), a table out."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "scored_orders", "kind": "python", "function": "scoring:score_orders", "inputs": ["orders"]}]})

    kind: Literal["python"] = Field(description="the step kind", examples=["python"])
    function: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$",
        description="`module:function`; the module is a .py file beside pipeline.yaml (`scoring` is scoring.py), "
        "else an installed package. The function takes each input table as a keyword argument named for it "
        "(and `params`, if it has that parameter) and returns a pyarrow Table or RecordBatchReader, or a DuckDB relation",
        examples=["scoring:score_orders"],
    )
    inputs: list[Identifier] = Field(
        default_factory=list, description="the published tables handed to the function; they are the step's "
        "upstream in the DAG and its table lineage",
        examples=[["orders", "customers"]],
    )
    inputs_as: Literal["arrow", "relation"] = Field(
        default="arrow",
        description="arrow: each input as a pyarrow Table; relation: as a DuckDB relation (lazy: the function's "
        "filters and joins run in DuckDB)",
        examples=["relation"],
    )
    lineage: dict[str, list[str]] = Field(
        default_factory=dict,
        description="column lineage the function cannot show by itself: output column -> the `table.column`s of its "
        "inputs it derives from (`flowdeck lineage`, masking of derived columns, OpenLineage)",
        examples=[{"customer_key": ["customers.customer_id"], "score": ["orders.amount", "orders.status"]}],
    )
    mask: dict[str, MaskMethod] = Field(
        default_factory=dict, description=MASK_DESCRIPTION,
        examples=[{"email": "hash"}],
    )

    @model_validator(mode="before")
    @classmethod
    def _inputs_as_list(cls, data: Any) -> Any:
        return one_or_many(data, "inputs")

    def column_sources(self) -> dict[str, set[tuple[str, str]]]:
        """The declared ``lineage`` as output column -> {(table, column)}, lower-case (as sqlglot's lineage gives)."""
        found: dict[str, set[tuple[str, str]]] = {}
        for column, sources in self.lineage.items():
            pairs = (source.lower().split(".", 1) for source in sources)
            found[column.lower()] = {(table, name) for table, name in pairs}
        return found


Step = Annotated[
    Union[ExtractStep, TransformStep, CheckStep, LoadStep, PythonStep],
    Field(discriminator="kind"),
    Pluggable(registry.step_kinds, "step kind", base=StepBase, tagged=True),
]
STEP_KINDS = ("extract", "transform", "check", "load", "python")
