"""The field types every section of the configuration shares: identifiers, durations, secret references, and the base model."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

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
# a step's tag, as `--select tag:NAME` names it: no space, comma, `+`, `@` or `:` (the selection's operators)
TAG = r"^[A-Za-z0-9_][A-Za-z0-9_-]*$"
TagName = Annotated[str, Field(pattern=TAG, description="letters, digits, _ and -")]
Scalar = Union[str, int, float, bool]
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
