"""Run parameters: checked against their declared types, then bound into SQL and paths.

In SQL a parameter is written ``$day``; flowdeck replaces it by a typed literal
(``DATE '2026-11-01'``, written by ``engine.sql.render``) at the token's position, so the rest
of the text is run exactly as written. In paths (extract sources, load targets) it is written ``{day}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flowdeck.engine.errors import Location, ParamError, excerpt_of
from flowdeck.engine.project.config.pipeline import ParamSpec
from flowdeck.engine.sql.render import literal

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ParamUse:
    """Where ``$name`` appears in a SQL text (character offsets, 1-based line and column)."""

    name: str
    start: int
    end: int
    line: int
    column: int


def coerce_params(specs: Mapping[str, ParamSpec], given: Mapping[str, str], pipeline: str) -> dict[str, Any]:
    """Check given values (strings from the command line) against ``specs``; fill defaults."""
    unknown = sorted(set(given) - set(specs))
    if unknown:
        declared = ", ".join(sorted(specs)) or "none"
        raise ParamError(
            f"pipeline `{pipeline}` has no parameter `{unknown[0]}` (declared: {declared})",
            hint="declare it under `params:` in pipeline.yaml, or fix the name",
        )
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        raw = given.get(name, spec.default)
        if raw is None:
            if spec.required:
                raise ParamError(
                    f"pipeline `{pipeline}` needs the parameter `{name}` ({spec.type})",
                    hint=f"pass it with --param {name}=VALUE",
                )
            values[name] = None
            continue
        values[name] = _coerce(name, spec.type, raw)
    return values


def _coerce(name: str, kind: str, raw: Any) -> Any:
    text = str(raw).strip()
    try:
        if kind == "string":
            return str(raw)
        if kind == "integer":
            if isinstance(raw, bool):
                raise ValueError
            return int(text)
        if kind == "number":
            number = float(text)
            if not math.isfinite(number):  # `inf`, `nan`: no pipeline means these, and SQL has no literal for them
                raise ValueError
            return number
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
            raise ValueError
        if kind == "date":
            return raw if isinstance(raw, date) and not isinstance(raw, datetime) else date.fromisoformat(text)
        if kind == "timestamp":
            return raw if isinstance(raw, datetime) else datetime.fromisoformat(text)
    except ValueError:
        pass
    example = {"integer": "42", "number": "3.5", "boolean": "true", "date": "2026-11-01", "timestamp": "2026-11-01T06:00:00"}
    raise ParamError(
        f"parameter `{name}` must be a {kind}, got {raw!r}",
        hint=f"for example --param {name}={example.get(kind, 'text')}",
    )


def find_param_uses(text: str) -> list[ParamUse]:
    """Every ``$name`` in ``text`` (not inside strings or comments)."""
    from sqlglot.dialects.duckdb import DuckDB  # imported here: sqlglot is costly to load
    from sqlglot import TokenType

    tokens = DuckDB().tokenize(text)
    uses: list[ParamUse] = []
    for marker, token in zip(tokens, tokens[1:]):
        if marker.token_type == TokenType.PARAMETER and marker.end + 1 == token.start and token.text.isidentifier():
            start = marker.start
            line = text.count("\n", 0, start) + 1
            column = start - (text.rfind("\n", 0, start) + 1) + 1
            uses.append(ParamUse(name=token.text, start=start, end=token.end + 1, line=line, column=column))
    return uses


def check_param_uses(
    text: str, path: Path, declared: Mapping[str, ParamSpec], uses: Sequence[ParamUse] | None = None
) -> list[ParamUse]:
    """The ``$name`` uses of a SQL file (found in ``text`` unless given); an undeclared one is an error."""
    uses = list(find_param_uses(text) if uses is None else uses)
    for use in uses:
        if use.name not in declared:
            raise ParamError(
                f"`${use.name}` is not a parameter of this pipeline",
                location=Location(path, use.line, use.column),
                excerpt=excerpt_of(text, use.line, use.column),
                hint=f"declare `{use.name}` under `params:` in pipeline.yaml",
            )
    return uses


def bind_sql(text: str, uses: list[ParamUse], values: Mapping[str, Any]) -> str:
    """Replace each ``$name`` by the typed SQL literal of its value."""
    if not uses:
        return text
    pieces: list[str] = []
    cursor = 0
    for use in uses:
        pieces.append(text[cursor : use.start])
        pieces.append(literal(values.get(use.name)))
        cursor = use.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def typed_nulls(text: str, types: Mapping[str, str]) -> str:
    """``$name`` replaced by ``CAST(NULL AS type)`` (``types``: name → DuckDB type, VARCHAR when missing):
    what binding a query needs, its types, without a value."""
    pieces: list[str] = []
    cursor = 0
    for use in find_param_uses(text):
        pieces.append(text[cursor:use.start])
        pieces.append(f"CAST(NULL AS {types.get(use.name, 'VARCHAR')})")
        cursor = use.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def path_params(template: str) -> list[str]:
    """Names of the ``{name}`` placeholders in a path."""
    return _PATH_PARAM.findall(template)


def bind_path(template: str, values: Mapping[str, Any]) -> str:
    """Replace ``{name}`` in a path by the parameter's value."""
    return _PATH_PARAM.sub(lambda match: "" if values.get(match[1]) is None else str(values[match[1]]), template)


def folder_of_prefix(root: Path, prefix: str) -> Path:
    """The folder a path's fixed part names, resolved under ``root``: ``exports/`` and
    ``exports/day_`` both name ``exports``; an empty prefix names ``root`` itself."""
    return (root / (prefix if prefix.endswith("/") or not prefix else str(Path(prefix).parent))).resolve()


def bind_path_inside(template: str, values: Mapping[str, Any], root: Path) -> str:
    """``bind_path``, refusing values that take the path out of the folder its template names.

    The folder is the template's part before its first parameter (``exports/`` for
    ``exports/{day}.csv``; the project, ``root``, for ``{name}.csv``), resolved with symbolic
    links followed, so ``--param day=../../etc/x`` or a link planted in the folder cannot lead
    a run to read or write elsewhere. A path with a scheme (``s3a://``) is left to its engine.
    """
    bound = bind_path(template, values)
    names = path_params(template)
    if not names or "://" in template:
        return bound
    folder = folder_of_prefix(root, template[: template.index("{")])
    target = (root / bound).resolve()
    if target != folder and not target.is_relative_to(folder):
        given = ", ".join(f"{name}={values.get(name)!r}" for name in names)
        raise ParamError(
            f"the path {template} with {given} leads out of {folder}",
            hint="a path parameter names a file inside that folder: no `..`, no absolute path, no link leading out",
        )
    return bound
