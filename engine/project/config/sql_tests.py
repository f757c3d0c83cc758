"""A SQL unit test file (``pipelines/<name>/tests/*.yaml``): tests of one step's SQL on fixed rows.

Each top-level key names a test; a test gives the rows of the tables its step reads (inline or a
small CSV file beside the test), the rows the step's output must hold, and fixed parameters and
``now``. docs/sql-tests.md describes the format and how rows are compared.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field, RootModel, field_validator, model_validator

from flowdeck.engine.project.config.fields import Identifier, Model, Scalar, one_or_many


class Rows(Model):
    """Rows of a table: inline mappings (column → value), or a CSV file relative to the test file."""

    rows: list[dict[str, Any]] | None = Field(
        default=None, description="the rows, each a mapping of column to value (a column a row leaves out is NULL)",
        examples=[[{"order_id": 1, "amount": 9.5}]],
    )
    csv: str | None = Field(
        default=None, description="a CSV file with a header line, relative to the test file (instead of `rows`)",
        examples=["orders.csv"],
    )
    types: dict[str, str] = Field(
        default_factory=dict,
        description="DuckDB types of columns, where the type read from the values is not the one wanted "
        "(every column of an input with no rows)",
        examples=[{"order_date": "DATE", "amount": "DECIMAL(10,2)"}],
    )

    @model_validator(mode="after")
    def _rows_or_csv(self) -> Rows:
        if (self.rows is None) == (self.csv is None):
            raise ValueError("give exactly one of `rows:` (a list of mappings) or `csv:` (a file)")
        return self


class ExpectedRows(Rows):
    """The rows the step's output must hold, and how they are compared."""

    key: list[str] = Field(
        default_factory=list,
        description="columns that identify a row: the expected rows are then a subset of the output, matched by "
        "key, and a differing row shows the columns that differ",
        examples=[["order_id"]],
    )
    ignore_order: bool = Field(
        default=True, description="compare rows as a multiset (false: the output's order must be the rows' order)",
        examples=[False],
    )
    ignore_columns: list[str] = Field(
        default_factory=list, description="output columns left out of the comparison", examples=[["loaded_at"]],
    )

    @model_validator(mode="before")
    @classmethod
    def _one_key(cls, data: Any) -> Any:
        return one_or_many(data, "key", "ignore_columns")


class SqlTest(Model):
    """One test: a step, the rows of the tables it reads, and the rows its output must hold."""

    step: Identifier = Field(description="the transform step under test (a step of this pipeline)",
                             examples=["daily_sales"])
    description: str | None = Field(default=None, description="what the test shows", examples=["paid orders only"])
    inputs: dict[str, Rows] = Field(
        default_factory=dict,
        description="rows of every table the step reads, by table name",
        examples=[{"sales": {"rows": [{"order_id": 1, "status": "paid"}]}}],
    )
    expect: ExpectedRows = Field(description="the rows the step's output must hold",
                                 examples=[{"rows": [{"orders": 1}]}])
    params: dict[Identifier, Scalar | date | datetime] = Field(
        default_factory=dict, description="values of the pipeline's parameters (the others take their default)",
        examples=[{"since": "2026-01-01"}],
    )
    checks: bool = Field(
        default=False,
        description="also run the step's checks on the output (the tables a check reads must be inputs of the test); "
        "a check that finds failing rows, whatever its severity, fails the test",
        examples=[True],
    )
    now: datetime | None = Field(
        default=None,
        description="the time now(), current_timestamp and current_date return in the step's SQL "
        "(required when the SQL asks for the time)",
        examples=["2026-11-01T06:00:00"],
    )

    @field_validator("now", mode="before")
    @classmethod
    def _date_is_midnight(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day)  # `now: 2026-11-01` is that day's midnight
        return value


class SqlTestFile(RootModel[dict[Identifier, SqlTest]]):
    """A test file: test name → test."""
