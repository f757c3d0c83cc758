"""Typed models of flowdeck.yaml and pipeline.yaml, with a default for everything optional.

These models are the single definition of the configuration: validation, the JSON Schema
printed by ``flowdeck schema`` and the configuration reference in docs/ all come from them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> Any:
    """Accept ``30s``, ``5m``, ``2h``, ``1d``, ``1w``, ``250ms`` or a number of seconds."""
    if isinstance(value, timedelta) or value is None:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            amount, unit = match.groups()
            return timedelta(seconds=float(amount) * _UNIT_SECONDS[unit])
    raise ValueError(f"expected a duration such as 30s, 5m, 2h or 1d, got {value!r}")


_CRON_FIELD_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))  # APScheduler 3: Monday is 0
_CRON_ITEM = re.compile(r"(?:\*|(?P<first>\d+)(?:-(?P<last>\d+))?)(?:/(?P<step>\d+))?")


def plainly_valid_cron(expression: str) -> bool:
    """Whether a five-field cron expression uses only numbers, ranges, steps and lists that APScheduler accepts.

    A fast path for validation: importing APScheduler costs about 25 ms on every command that
    reads a scheduled pipeline. Anything this does not vouch for (names, out-of-range values,
    odd steps) is checked by APScheduler itself.
    """
    fields = expression.split()
    if len(fields) != len(_CRON_FIELD_BOUNDS):
        return False
    for text, (low, high) in zip(fields, _CRON_FIELD_BOUNDS):
        for item in text.split(","):
            match = _CRON_ITEM.fullmatch(item)
            if match is None:
                return False
            if match["first"] is None:  # `*`
                span = high - low
            else:
                first = int(match["first"])
                last = int(match["last"]) if match["last"] is not None else first
                if not low <= first <= last <= high or (match["step"] is not None and match["last"] is None):
                    return False
                span = last - first
            if match["step"] is not None and not 1 <= int(match["step"]) <= span:
                return False
    return True


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "type": ["string", "number"],
            "pattern": r"^\d+(\.\d+)?(ms|s|m|h|d|w)?$",
            "description": "a duration: 30s, 5m, 2h, 1d, 1w, or a number of seconds",
        }
    ),
]
Identifier = Annotated[str, Field(pattern=IDENTIFIER, description="letters, digits and _, not starting with a digit")]
Scalar = Union[str, int, float, bool]
MaskMethod = Literal["hash", "redact", "partial"]
_REFERENCE = re.compile(r"^\$\{(secret|env):[A-Za-z_][A-Za-z0-9_.-]*\}$")


def _reference_only(value: Any) -> Any:
    """A setting that holds a key or token must name it, never contain it."""
    if value is not None and not (isinstance(value, str) and _REFERENCE.match(value.strip())):
        raise ValueError("must be a reference such as ${secret:NAME} or ${env:NAME}, never the key itself")
    return value.strip() if isinstance(value, str) else value


SecretReference = Annotated[
    str,
    BeforeValidator(_reference_only),
    WithJsonSchema({"type": "string", "pattern": r"^\$\{(secret|env):[A-Za-z_][A-Za-z0-9_.-]*\}$",
                    "description": "a reference to a secret: ${secret:NAME} or ${env:NAME}"}),
]
MASK_DESCRIPTION = (
    "column masking: output column -> hash, redact or partial; columns derived from a masked column "
    "under another name are masked the same way (see docs/security.md)"
)


def one_or_many(data: Any, *keys: str) -> Any:
    """Let a list of column names be written as one name: ``unique: id`` means ``unique: [id]``."""
    if isinstance(data, dict) and any(isinstance(data.get(key), str) for key in keys):
        data = {**data, **{key: [data[key]] for key in keys if isinstance(data.get(key), str)}}
    return data


def by_connection(database: type) -> Any:
    """A union discriminator: a mapping naming a ``connection`` is the database form, else the file form."""

    def form(value: Any) -> str:
        if isinstance(value, dict):
            return "database" if "connection" in value else "file"
        return "database" if isinstance(value, database) else "file"

    return form


class Model(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable.

    Validators are built on first use (``defer_build``): building all of them at import
    costs ~35 ms that a command validating two files does not need to pay up front.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


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
# steps


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


class ParquetEncryption(Model):
    """Parquet modular encryption of an export: data keys wrapped by a master key from the secrets store."""

    key: SecretReference = Field(
        description="the master key, e.g. ${secret:EXPORT_KEY} (`flowdeck secrets set EXPORT_KEY --generate`)",
        examples=["${secret:EXPORT_KEY}"],
    )
    plaintext_footer: bool = Field(
        default=False, description="leave the footer (schema, row counts) readable without the key",
        examples=[True],
    )


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
    checks: list[CheckSpec] = Field(
        default_factory=list, description="checks run on the step's staged output before it is published",
        examples=[[{"not_null": ["order_id"]}]],
    )
    retries: Retries | None = Field(
        default=None, description="retries of transient failures; the project's `defaults.retries` when omitted",
        examples=[{"attempts": 3, "backoff": "10s"}],
    )


class PublishingStep(StepBase):
    """What every step that publishes a table has: versions kept, and incremental merging."""

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
    def _incremental_settings(self) -> PublishingStep:
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


class ExtractStep(PublishingStep):
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


class TransformStep(PublishingStep):
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


Step = Annotated[Union[ExtractStep, TransformStep, CheckStep, LoadStep], Field(discriminator="kind")]
STEP_KINDS = ("extract", "transform", "check", "load")


# ---------------------------------------------------------------------------------------------
# pipelines


class ParamSpec(Model):
    """A run parameter, available to SQL as ``$name`` and to paths as ``{name}``."""

    type: Literal["string", "integer", "number", "boolean", "date", "timestamp"] = Field(
        default="string", description="values given on the command line are checked against it",
        examples=["date"],
    )
    default: Scalar | None = Field(default=None, description="the value when none is given", examples=["2026-01-01"])
    required: bool = Field(default=False, description="a run must be given a value", examples=[True])
    description: str | None = Field(
        default=None, description="what the parameter means",
        examples=["first order date included"],
    )


class Schedule(Model):
    """When the daemon runs the pipeline: a cron expression or an interval, and what to do about late slots."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"cron": "0 6 * * *", "timezone": "Europe/Paris"}]})

    cron: str | None = Field(
        default=None, description="five-field cron expression, e.g. '0 6 * * *'",
        examples=["0 6 * * *"],
    )
    interval: Duration | None = Field(
        default=None, description="run every this long, e.g. 15m; slots are aligned to multiples of it since 1970-01-01 UTC",
        examples=["15m"],
    )
    timezone: str = Field(
        default="UTC", description="IANA time zone of the cron expression, e.g. Europe/Paris",
        examples=["Europe/Paris"],
    )
    catchup: Literal["all", "latest", "none"] = Field(
        default="latest",
        description="slots missed while the daemon was down: run all of them (up to max_catchup), "
        "only the latest, or none",
        examples=["all"],
    )
    max_catchup: int = Field(
        default=10, ge=1, description="with catchup: all, run at most this many missed slots (the latest ones)",
        examples=[3],
    )
    misfire_grace: Duration = Field(
        default=timedelta(seconds=60),
        description="a slot reached within this time of its due time runs normally; a later one counts as missed",
        examples=["5m"],
    )
    overlap: Literal["skip", "queue"] = Field(
        default="skip",
        description="when a slot is due while a run of this pipeline is still queued or running: skip the slot, "
        "or queue a run that starts after it",
        examples=["queue"],
    )

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None and not plainly_valid_cron(value):
            from apscheduler.triggers.cron import CronTrigger  # only for what the fast path cannot vouch for

            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as error:
                raise ValueError(f"invalid cron expression {value!r}: {error}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as UTC or Europe/Paris") from None
        return value

    @field_validator("interval")
    @classmethod
    def _whole_seconds(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and (value.total_seconds() < 1 or value.total_seconds() != int(value.total_seconds())):
            raise ValueError("an interval must be a whole number of seconds, at least 1s")
        return value

    @model_validator(mode="after")
    def _cron_or_interval(self) -> Schedule:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("a schedule needs exactly one of cron or interval")
        return self


class FileTrigger(Model):
    """Start a run when files matching ``patterns`` land in ``folder``."""

    folder: str = Field(description="watched folder, relative to the project", examples=["landing/orders"])
    patterns: list[str] = Field(
        default_factory=lambda: ["*"], description="glob patterns matched against file names (not paths), e.g. '*.csv'",
        examples=[["*.csv", "*.csv.gz"]],
    )
    settle: Duration = Field(
        default=timedelta(seconds=2), description="a file is taken once it has not changed for this long",
        examples=["10s"],
    )
    archive: str | None = Field(
        default=None, description="move processed files here, relative to the project",
        examples=["archive/orders"],
    )


# ---------------------------------------------------------------------------------------------
# alerts

Severity = Literal["critical", "warning", "info"]


class Rule(Model):
    """A built-in alert rule: on or off, its severity, and labels added to its alerts."""

    enabled: bool = Field(default=True, description="false turns the rule off", examples=[False])
    severity: Severity | None = Field(
        default=None, description="critical, warning or info; each rule has its own default",
        examples=["warning"],
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="extra labels for routing, e.g. {team: finance}",
        examples=[{"team": "finance"}],
    )


class SlowRunRule(Rule):
    """A run slower than usual (``factor`` times the median of recent successful runs) or past a deadline."""

    factor: float = Field(
        default=3.0, gt=1.0, description="slower than this many times the usual duration fires",
        examples=[2.5],
    )
    history: int = Field(
        default=20, ge=1, description="how many recent successful runs make the usual duration",
        examples=[30],
    )
    min_runs: int = Field(default=5, ge=1, description="no comparison before this many successful runs", examples=[10])
    min_duration: Duration = Field(
        default=timedelta(seconds=60), description="runs shorter than this never count as slow (noise on tiny runs)",
        examples=["5m"],
    )
    deadline: Duration | None = Field(
        default=None, description="a run still running (or ending) after this long fires",
        examples=["2h"],
    )


class StaleRule(Rule):
    """No successful run of the pipeline within ``after``: its data is stale."""

    after: Duration | None = Field(
        default=None, description="the window; off until set, e.g. 26h for a daily pipeline",
        examples=["26h"],
    )


class DaemonRule(Rule):
    """The daemon stopped heartbeating, or has been unready, for longer than ``after``."""

    after: Duration = Field(default=timedelta(minutes=2), description="how long before it alerts", examples=["5m"])


class AlertRules(Model):
    """The built-in rules; each has sensible defaults, change only what you need."""

    run_failed: Rule = Field(
        default_factory=Rule, description="a run failed (critical)",
        examples=[{"severity": "warning"}],
    )
    run_abandoned: Rule = Field(
        default_factory=Rule, description="a run's process died (critical)",
        examples=[{"enabled": False}],
    )
    check_failed: Rule = Field(
        default_factory=Rule, description="a check with severity error failed (critical)",
        examples=[{"labels": {"team": "data-quality"}}],
    )
    check_warned: Rule = Field(
        default_factory=Rule, description="a check with severity warn found rows (warning)",
        examples=[{"severity": "info"}],
    )
    run_slow: SlowRunRule = Field(
        default_factory=SlowRunRule, description="slower than usual or past a deadline (warning)",
        examples=[{"factor": 2, "deadline": "2h"}],
    )
    schedule_missed: Rule = Field(
        default_factory=Rule, description="a scheduled slot was missed or could not run (warning)",
        examples=[{"severity": "critical"}],
    )
    data_stale: StaleRule = Field(
        default_factory=StaleRule, description="no successful run within a window (warning)",
        examples=[{"after": "26h"}],
    )
    daemon_unhealthy: DaemonRule = Field(
        default_factory=DaemonRule, description="the daemon is down or unready (critical)",
        examples=[{"after": "5m"}],
    )


class PipelineAlerts(Model):
    """A pipeline's own alert settings: labels, and rule settings overriding flowdeck.yaml's."""

    labels: dict[str, str] = Field(
        default_factory=dict, description="labels added to every alert of this pipeline",
        examples=[{"team": "finance"}],
    )
    run_failed: Rule | None = Field(
        default=None, description="a run of this pipeline failed; the project's rule when omitted",
        examples=[{"severity": "warning"}],
    )
    run_abandoned: Rule | None = Field(
        default=None, description="a run's process died; the project's rule when omitted",
        examples=[{"enabled": False}],
    )
    check_failed: Rule | None = Field(
        default=None, description="a check with severity error failed; the project's rule when omitted",
        examples=[{"severity": "warning"}],
    )
    check_warned: Rule | None = Field(
        default=None, description="a check with severity warn found rows; the project's rule when omitted",
        examples=[{"enabled": False}],
    )
    run_slow: SlowRunRule | None = Field(
        default=None, description="slower than usual or past a deadline; the project's rule when omitted",
        examples=[{"deadline": "45m"}],
    )
    schedule_missed: Rule | None = Field(
        default=None, description="a scheduled slot was missed; the project's rule when omitted",
        examples=[{"severity": "critical"}],
    )
    data_stale: StaleRule | None = Field(
        default=None, description="no successful run within a window; the project's rule when omitted",
        examples=[{"after": "26h"}],
    )


CHANNEL_TYPES = ("email", "slack", "webhook", "sms", "console")


class Channel(Model):
    """Where notifications go: an Apprise URL whose credentials are ``${secret:NAME}`` or ``${env:NAME}`` references."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"type": "email", "url": "mailtos://alerts:${secret:SMTP_PASSWORD}@smtp.example.com?from=etl@example.com&to=oncall@example.com"}]})

    type: Literal["email", "slack", "webhook", "sms", "console"] = Field(
        description="email (mailto:// or mailtos://), slack, webhook (json:// or jsons://), sms (an Apprise SMS "
        "service such as twilio://), console (a toast in open consoles; no url)",
        examples=["email"],
    )
    url: str | None = Field(
        default=None, description="the Apprise URL; credentials only as ${secret:NAME} or ${env:NAME}",
        examples=["mailtos://alerts:${secret:SMTP_PASSWORD}@smtp.example.com?from=etl@example.com&to=oncall@example.com"],
    )
    send_resolved: bool = Field(
        default=True, description="also tell this channel when an alert resolves",
        examples=[False],
    )

    @model_validator(mode="after")
    def _url_fits_type(self) -> Channel:
        if self.type == "console":
            if self.url:
                raise ValueError("a console channel has no url")
            return self
        if not self.url:
            raise ValueError(f"a {self.type} channel needs a url (an Apprise URL)")
        whole_reference = self.url.startswith("${")  # the whole URL kept in the secrets store: checked when sent
        scheme = self.url.split("://", 1)[0].lower() if "://" in self.url else ""
        expected = {"email": ("mailto", "mailtos"), "webhook": ("json", "jsons")}.get(self.type)
        if expected and scheme not in expected and not whole_reference:
            raise ValueError(f"a {self.type} channel's url starts with {' or '.join(e + '://' for e in expected)}")
        if self.type == "slack" and scheme not in ("slack", "https") and not whole_reference:
            raise ValueError("a slack channel's url is slack://... or https://hooks.slack.com/services/...")
        from flowdeck.engine.secrets.references import has_reference  # literal passwords: engine/secrets/literals.py

        if self.type in ("slack", "sms") and not has_reference(self.url):
            raise ValueError(f"a {self.type} url carries its credentials (tokens); write them as ${{secret:NAME}} "
                             "or ${env:NAME}, or the whole url as one reference")
        return self


class Route(Model):
    """Which alerts go to which channels: the first route whose ``match`` fits wins (unless ``continue``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    match: dict[str, Union[str, list[str]]] = Field(
        default_factory=dict,
        description="label → value (or list of values) an alert must have; labels: severity, rule, pipeline, "
        "step, and your own; empty matches everything",
        examples=[{"severity": "critical", "team": ["finance", "sales"]}],
    )
    channels: list[Identifier] = Field(
        min_length=1, description="channel names from alerts.channels",
        examples=[["ops_email", "console"]],
    )
    repeat_interval: Duration | None = Field(
        default=None, description="remind of a still-firing alert this often; alerts.repeat_interval when omitted",
        examples=["30m"],
    )
    continue_matching: bool = Field(
        default=False, alias="continue", description="also try the next routes after this one matched",
        examples=[True],
    )


class RetryPolicy(Model):
    """How the sender retries a notification a channel did not take."""

    initial: Duration = Field(
        default=timedelta(seconds=10), description="wait before the first retry; doubles each time",
        examples=["30s"],
    )
    max: Duration = Field(
        default=timedelta(minutes=10), description="the longest wait between two tries",
        examples=["30m"],
    )
    give_up_after: Duration = Field(
        default=timedelta(days=1), description="stop trying after this long (the notification stays visible, failed)",
        examples=["12h"],
    )


class AlertsConfig(Model):
    """Alert rules, channels, routes and delivery (see docs/alerting.md)."""

    rules: AlertRules = Field(
        default_factory=AlertRules, description="the built-in alert rules and their settings",
        examples=[{"data_stale": {"after": "26h"}}],
    )
    channels: dict[Identifier, Channel] = Field(
        default_factory=dict, description="named channels; `console` (toasts in open consoles) always exists",
        examples=[{"ops_email": {"type": "email", "url": "mailtos://alerts:${secret:SMTP_PASSWORD}@smtp.example.com?from=etl@example.com&to=oncall@example.com"}}],
    )
    routes: list[Route] = Field(
        default_factory=lambda: [Route(channels=["console"])],
        description="ordered routes; by default every alert goes to the console",
        examples=[[{"match": {"severity": ["critical", "warning"]}, "channels": ["console"]}]],
    )
    repeat_interval: Duration = Field(
        default=timedelta(hours=4), description="remind of a still-firing alert this often (per channel)",
        examples=["1h"],
    )
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy, description="how the sender retries a notification a channel refused",
        examples=[{"give_up_after": "6h"}],
    )

    @model_validator(mode="after")
    def _routes_name_channels(self) -> AlertsConfig:
        known = set(self.channels) | {"console"}
        for index, route in enumerate(self.routes, start=1):
            for name in route.channels:
                if name not in known:
                    raise ValueError(f"route {index} sends to channel `{name}`, which alerts.channels does not define "
                                     f"(known: {', '.join(sorted(known))})")
        return self


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


class PipelineConfig(Model):
    """A pipeline.yaml: a DAG of steps with its parameters, schedule and triggers."""

    description: str | None = Field(
        default=None, description="what the pipeline is for, shown by `flowdeck pipelines`",
        examples=["Daily sales by country and category, from the order, customer and product feeds."],
    )
    params: dict[Identifier, ParamSpec] = Field(
        default_factory=dict, description="run parameters, by name",
        examples=[{"since": {"type": "date", "default": "2026-01-01"}}],
    )
    schedule: Schedule | None = Field(
        default=None, description="when the daemon runs it; never when omitted",
        examples=[{"cron": "0 6 * * *", "timezone": "Europe/Paris"}],
    )
    triggers: list[FileTrigger] = Field(
        default_factory=list, description="folders whose new files start a run",
        examples=[[{"folder": "landing/orders", "patterns": ["*.csv"]}]],
    )
    on_abandoned: Literal["resume", "report"] = Field(
        default="report",
        description="when a run's process dies (daemon killed, worker crashed): the daemon queues it again "
        "(resume, at most 3 times in a row) or only reports it",
        examples=["resume"],
    )
    max_parallel_steps: int | None = Field(
        default=None, ge=1, description="steps run at once; the project default when omitted",
        examples=[2],
    )
    alerts: PipelineAlerts = Field(
        default_factory=PipelineAlerts, description="this pipeline's alert labels and rule settings (docs/alerting.md)",
        examples=[{"labels": {"team": "finance"}}],
    )
    steps: list[Step] = Field(
        min_length=1, description="the steps; their order in the file breaks ties only",
        examples=[[{"name": "raw_orders", "kind": "extract", "source": {"path": "data/orders.csv"}}]],
    )


# ---------------------------------------------------------------------------------------------
# the project


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


class ConnectionConfig(Model):
    """A database flowdeck reads from or writes to through Arrow ADBC (see docs/connectors.md)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"type": "postgresql", "uri": "postgresql://db.example.com:5432/sales"}]})

    type: Literal["postgresql", "sqlite"] = Field(description="the kind of database", examples=["postgresql"])
    uri: str = Field(
        description="postgresql: `postgresql://host:port/database` (no password in it); sqlite: the database "
        "file, relative to the project",
        examples=["postgresql://db.example.com:5432/sales"],
    )
    user: str | None = Field(
        default=None, description="postgresql: the user to log in as (or in the URI)",
        examples=["etl"],
    )
    password: SecretReference | None = Field(
        default=None, description="postgresql: a reference to the password, e.g. ${secret:SALES_DB}",
        examples=["${secret:SALES_DB_PASSWORD}"],
    )
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = Field(
        default=None, description="postgresql: TLS mode, passed to libpq (its default, prefer, when omitted)",
        examples=["verify-full"],
    )
    sslrootcert: str | None = Field(
        default=None, description="postgresql: CA certificate file the server's certificate is checked against "
        "(verify-ca, verify-full); relative to the project",
        examples=["certs/db-ca.pem"],
    )
    sslcert: str | None = Field(
        default=None, description="postgresql: client certificate file, relative to the project",
        examples=["certs/etl.crt"],
    )
    sslkey: str | None = Field(
        default=None, description="postgresql: client key file, relative to the project",
        examples=["certs/etl.key"],
    )
    connect_timeout: Duration = Field(
        default=timedelta(seconds=10), description="how long connecting may take before it counts as unreachable",
        examples=["30s"],
    )
    health_check: bool = Field(
        default=True, description="whether the daemon checks this connection on its schedule and reports it in /readyz",
        examples=[False],
    )

    @model_validator(mode="after")
    def _settings_of_type(self) -> ConnectionConfig:
        if self.type == "sqlite":
            given = [name for name in ("user", "password", "sslmode", "sslrootcert", "sslcert", "sslkey")
                     if getattr(self, name) is not None]
            if given:
                raise ValueError(f"`{given[0]}` does not apply to a sqlite connection (a file on this machine)")
        elif not self.uri.startswith(("postgresql://", "postgres://")) and "${" not in self.uri:
            raise ValueError("a postgresql `uri` starts with postgresql://, e.g. postgresql://db.example.com:5432/sales")
        return self


class RolesConfig(Model):
    """Who may do what: OS users (`alice`) and groups (`@etl`) mapped to viewer, operator or admin."""

    admins: list[str] = Field(
        default_factory=list, description="edit pipelines, schedules, secrets and config; prune",
        examples=[["alice"]],
    )
    operators: list[str] = Field(
        default_factory=list, description="run, cancel, resume, roll back, acknowledge",
        examples=[["bob", "@etl"]],
    )
    viewers: list[str] = Field(default_factory=list, description="read only", examples=[["@analysts"]])
    default: Literal["viewer", "operator", "admin"] = Field(
        default="viewer", description="the role of a user listed nowhere",
        examples=["operator"],
    )


class RetentionConfig(Model):
    """How long the ledger keeps things; `flowdeck prune` (and the daemon, daily) removes what is older."""

    runs: Duration | None = Field(
        default=timedelta(days=90), description="finished runs with their steps and checks; null keeps them forever",
        examples=["180d"],
    )
    events: Duration | None = Field(
        default=timedelta(days=30), description="event log lines; at most as long as runs",
        examples=["14d"],
    )
    audit: Duration | None = Field(
        default=timedelta(days=400), description="audit log entries; kept longest (at least as long as runs); null keeps them forever",
        examples=["730d"],
    )
    file_records: Duration | None = Field(
        default=timedelta(days=90), description="records of processed input files and lineage",
        examples=["180d"],
    )
    output_versions: int = Field(
        default=3, ge=1, le=100,
        description="versions of each published table kept for `flowdeck rollback`, the current one included; "
        "a step's `versions:` overrides it",
        examples=[5],
    )

    @model_validator(mode="after")
    def _audit_kept_longest(self) -> RetentionConfig:
        if self.audit is not None:
            for name in ("runs", "events", "file_records"):
                other = getattr(self, name)
                if other is None or other > self.audit:
                    raise ValueError(f"audit entries are kept longest: `audit` must be at least as long as `{name}`")
        if self.events is not None and self.runs is not None and self.events > self.runs:
            raise ValueError("`events` cannot be kept longer than the `runs` they belong to")
        return self


class SecurityConfig(Model):
    """Keys of flowdeck's own security features, as references to secrets."""

    pii_hash_key: SecretReference | None = Field(
        default=None, description="key of `mask: hash` (a keyed hash cannot be reversed by trying every value)",
        examples=["${secret:PII_HASH_KEY}"],
    )


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


class HttpConfig(Model):
    """Where the daemon serves /healthz, /readyz, /status and /metrics."""

    host: str = Field(
        default="127.0.0.1", description="address to listen on; loopback unless you mean otherwise",
        examples=["10.0.0.5"],
    )
    port: int = Field(
        default=8791, ge=0, le=65535, description="TCP port; 0 picks a free one (see `flowdeck status`)",
        examples=[9100],
    )
    token: SecretReference | None = Field(
        default=None,
        description="bearer token every endpoint but /healthz requires; needed to bind beyond loopback "
        "(e.g. ${secret:DAEMON_HTTP_TOKEN}, see docs/security.md)",
        examples=["${secret:DAEMON_HTTP_TOKEN}"],
    )


class DaemonConfig(Model):
    """The headless daemon (`flowdeck daemon`)."""

    workers: int = Field(
        default=1,
        ge=1,
        description="runs executed at once; each holds the DuckDB warehouse for its whole length, so more than "
        "1 only makes runs wait for each other (see docs/daemon.md)",
        examples=[1],
    )
    shutdown_grace: Duration = Field(
        default=timedelta(seconds=30),
        description="on SIGTERM, how long running steps may take to finish before they are interrupted",
        examples=["2m"],
    )
    http: HttpConfig = Field(
        default_factory=HttpConfig, description="the daemon's HTTP endpoints",
        examples=[{"host": "127.0.0.1", "port": 9100}],
    )
    connection_checks: Duration | None = Field(
        default=timedelta(seconds=60),
        description="how often the daemon checks that each connection (with health_check: true) answers; "
        "null turns the checks off",
        examples=["5m"],
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
    connections: dict[Identifier, ConnectionConfig] = Field(
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
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig, description="what is measured while runs execute (docs/monitoring.md)",
        examples=[{"sample_interval": "2s"}],
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="alert rules, routes, channels and silences (docs/alerting.md)",
        examples=[{"channels": {"ops_email": {"type": "email", "url": "mailtos://alerts:${secret:SMTP_PASSWORD}@smtp.example.com?from=etl@example.com&to=oncall@example.com"}}, "routes": [{"match": {"severity": "critical"}, "channels": ["ops_email", "console"]}]}],
    )
