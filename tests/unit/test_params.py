"""Run parameters: typed from the command line, bound into SQL as typed literals and into paths."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from flowdeck.engine.errors import EXIT_BAD_INPUT, ParamError
from flowdeck.engine.project.config.pipeline import ParamSpec
from flowdeck.engine.sql.params import bind_path, bind_sql, check_param_uses, coerce_params, find_param_uses
from flowdeck.engine.sql.render import literal as sql_literal

SPECS = {
    "day": ParamSpec(type="date", required=True),
    "limit": ParamSpec(type="integer", default=10),
    "ratio": ParamSpec(type="number", default=0.5),
    "full": ParamSpec(type="boolean", default=False),
    "at": ParamSpec(type="timestamp"),
    "label": ParamSpec(type="string", default="x"),
}


def test_values_are_coerced_to_their_declared_types_and_defaults_filled() -> None:
    values = coerce_params(SPECS, {"day": "2026-11-01", "full": "yes", "at": "2026-11-01T06:30:00"}, "p")
    assert values == {"day": date(2026, 11, 1), "limit": 10, "ratio": 0.5, "full": True,
                      "at": datetime(2026, 11, 1, 6, 30), "label": "x"}


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ({"day": "tomorrow"}, "parameter `day` must be a date, got 'tomorrow'"),
        ({"day": "2026-11-01", "limit": "ten"}, "parameter `limit` must be a integer"),
        ({"day": "2026-11-01", "full": "maybe"}, "parameter `full` must be a boolean"),
        ({"day": "2026-11-01", "colour": "red"}, "has no parameter `colour`"),
        ({}, "needs the parameter `day` (date)"),
    ],
)
def test_bad_values_are_refused_with_an_example(given: dict[str, str], words: str) -> None:
    with pytest.raises(ParamError) as caught:
        coerce_params(SPECS, given, "p")
    assert words in caught.value.what
    assert caught.value.exit_code == EXIT_BAD_INPUT


def test_sql_gets_typed_literals_at_the_parameters_places_only() -> None:
    text = "SELECT '$day' AS kept, $day AS d, $limit + 1 -- $label\nFROM t WHERE ok = $full AND name = $label"
    uses = find_param_uses(text)
    assert [use.name for use in uses] == ["day", "limit", "full", "label"]  # not in strings or comments
    bound = bind_sql(text, uses, {"day": date(2026, 11, 1), "limit": 10, "full": False, "label": "O'Brien"})
    assert bound == ("SELECT '$day' AS kept, DATE '2026-11-01' AS d, 10 + 1 -- $label\n"
                     "FROM t WHERE ok = FALSE AND name = 'O''Brien'")


def test_literals_of_every_type() -> None:
    assert sql_literal(None) == "NULL"
    assert sql_literal(datetime(2026, 1, 2, 3, 4, 5)) == "TIMESTAMP '2026-01-02 03:04:05'"
    assert sql_literal(2.5) == "2.5"


def test_undeclared_parameter_in_sql_is_reported_where_it_is() -> None:
    text = "SELECT *\nFROM t\nWHERE day >= $sinse"
    with pytest.raises(ParamError) as caught:
        check_param_uses(text, Path("q.sql"), {"since": ParamSpec(type="date")})
    error = caught.value
    assert error.what == "`$sinse` is not a parameter of this pipeline"
    assert (error.location.line, error.location.column) == (3, 14)
    assert error.excerpt == "    3 | WHERE day >= $sinse\n                     ^"


def test_paths_take_parameters_in_braces() -> None:
    assert bind_path("landing/{day}/orders.csv", {"day": date(2026, 11, 1)}) == "landing/2026-11-01/orders.csv"
