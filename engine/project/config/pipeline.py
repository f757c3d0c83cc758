"""A pipeline.yaml: its parameters, schedule, triggers (files, other pipelines), policies and steps."""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from flowdeck.engine.project.config.alerts import PipelineAlerts
from flowdeck.engine.project.config.fields import Duration, Identifier, Model, Scalar, one_or_many
from flowdeck.engine.project.config.steps import Step

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
    env: Identifier = Field(
        default="prod", description="the environment the runs it starts write to: prod (the project's warehouse) or "
        "a development one, which builds only what changed and reads the rest from prod (docs/environments.md)",
        examples=["dev"],
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


class FileBatch(Model):
    """Micro-batches: one run for the files that land together instead of one run a file."""

    max_files: int = Field(
        default=100, ge=1, le=10_000, description="a batch is started as soon as it holds this many files",
        examples=[50],
    )
    max_wait: Duration = Field(
        default=timedelta(seconds=30),
        description="at the latest, a batch is started this long after its first file was taken (settled)",
        examples=["30s"],
    )

    @field_validator("max_wait")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("max_wait must be longer than 0s (a batch of one file a run needs no batch)")
        return value


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
    batch: FileBatch | None = Field(
        default=None, description="start one run for the files that land within a window (micro-batches); "
        "one run a file when omitted", examples=[{"max_files": 50, "max_wait": "30s"}],
    )
    env: Identifier = Field(
        default="prod", description="the environment the runs it starts write to: prod (the project's warehouse) or "
        "a development one, which builds only what changed and reads the rest from prod (docs/environments.md)",
        examples=["dev"],
    )


class AfterTrigger(Model):
    """Start a run once each pipeline listed in ``after`` has published since this trigger last started one."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"after": ["orders", "customers"]}]})

    after: list[Identifier] = Field(
        min_length=1,
        description="pipelines this one follows: it runs when each of them has published (a successful run that "
        "wrote at least one table) since this trigger last started it (docs/daemon.md)",
        examples=[["orders", "customers"]],
    )
    env: Identifier = Field(
        default="prod", description="the environment the runs it starts write to: prod (the project's warehouse) or "
        "a development one, which builds only what changed and reads the rest from prod (docs/environments.md)",
        examples=["dev"],
    )

    @model_validator(mode="before")
    @classmethod
    def _one_name(cls, data: Any) -> Any:
        return one_or_many(data, "after")  # `after: orders` is `after: [orders]`

    @field_validator("after")
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed twice; list each pipeline once")
        return value


def _trigger_form(value: Any) -> str:
    """A trigger naming ``after`` follows pipelines; any other is a file trigger (as every trigger was before).

    The tags are not keys of either form: the error translator tells a tag from a key by that.
    """
    if isinstance(value, dict):
        return "follow" if "after" in value else "files"
    return "follow" if isinstance(value, AfterTrigger) else "files"


Trigger = Annotated[
    Union[Annotated[FileTrigger, Tag("files")], Annotated[AfterTrigger, Tag("follow")]],
    Discriminator(_trigger_form),
]


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
    triggers: list[Trigger] = Field(
        default_factory=list, description="what starts a run besides the schedule: new files in a folder "
        "(`folder:`), or other pipelines having published (`after:`)",
        examples=[[{"folder": "landing/orders", "patterns": ["*.csv"]}, {"after": ["customers"]}]],
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

    @property
    def file_triggers(self) -> list[FileTrigger]:
        """The triggers that watch folders, in file order."""
        return [trigger for trigger in self.triggers if isinstance(trigger, FileTrigger)]

    @property
    def after_triggers(self) -> list[AfterTrigger]:
        """The triggers that follow other pipelines, in file order."""
        return [trigger for trigger in self.triggers if isinstance(trigger, AfterTrigger)]
