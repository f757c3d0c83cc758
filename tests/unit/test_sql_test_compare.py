"""The comparison rules of SQL unit tests (engine/operations/sql_tests/compare.py, docs/sql-tests.md)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from flowdeck.engine.operations.sql_tests.compare import canonical, compare


@pytest.mark.parametrize(("expected", "actual"), [
    (1, 1.0), (1, Decimal("1.00")), (0.3, 0.1 + 0.2), (15, Decimal("15.000")), (2.5, Decimal("2.5")),
    (date(2026, 11, 1), "2026-11-01"), ("2026-11-01 06:00:00", datetime(2026, 11, 1, 6)),
    ("2026-11-01T06:00:00", datetime(2026, 11, 1, 6)),
    (datetime(2026, 11, 1, 7, tzinfo=timezone(timedelta(hours=1))), datetime(2026, 11, 1, 6, tzinfo=timezone.utc)),
    (None, None), ([1, 2], [1.0, 2]), ({"a": 1}, {"a": Decimal(1)}),
])
def test_values_that_are_equal(expected: object, actual: object) -> None:
    assert canonical(expected) == canonical(actual)


@pytest.mark.parametrize(("expected", "actual"), [
    (None, 0), (None, ""), (True, 1), ("true", True), (1, 1.0001), (10**15 + 1, 10**15),
    (Decimal("0.1"), Decimal("0.10000000000001")), ("FR", "fr"), (date(2026, 11, 1), "2026-11-02"),
])
def test_values_that_differ(expected: object, actual: object) -> None:
    assert canonical(expected) != canonical(actual)


def test_rows_compare_as_a_multiset_by_default() -> None:
    columns = ["id", "name"]
    result = compare(columns, [(2, "b"), (1, "a"), (1, "a")], ["id", "name"],
                     [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    assert not result.passed
    assert result.missing == [] and result.unexpected == [{"id": 1, "name": "a"}]  # a duplicate counts
    assert compare(columns, [(2, "b"), (1, "a")], columns, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]).passed


def test_in_order_names_the_positions_that_differ() -> None:
    result = compare(["id"], [(2,), (1,)], ["id"], [{"id": 1}, {"id": 2}, {"id": 3}], ignore_order=False)
    assert [(difference.position, difference.columns[0].expected, difference.columns[0].actual)
            for difference in result.differing] == [(1, 1, 2), (2, 2, 1)]
    assert result.missing == [{"id": 3}]


def test_keyed_rows_are_a_subset_and_name_the_columns_that_differ() -> None:
    result = compare(["id", "amount", "note"], [(1, 10, "x"), (2, 20, "y"), (3, 30, "z")], ["id", "amount", "note"],
                     [{"id": 2, "amount": 21, "note": "y"}, {"id": 4, "amount": 1, "note": None}], key=["ID"])
    assert result.unexpected == []  # rows 1 and 3 are not compared
    assert result.missing == [{"id": 4, "amount": 1, "note": None}]
    assert [(d.key, [(c.column, c.expected, c.actual) for c in d.columns]) for d in result.differing] == [
        ({"id": 2}, [("amount", 21, 20)])]


def test_a_key_found_twice_in_the_output_is_a_problem() -> None:
    result = compare(["id", "v"], [(1, "a"), (1, "b")], ["id", "v"], [{"id": 1, "v": "a"}], key=["id"])
    assert result.problems == ["the key id=1 is in the output 2 times"]


def test_columns_must_match_less_the_ignored_ones_ignoring_case() -> None:
    result = compare(["Id", "loaded_at", "extra"], [(1, "now", "x")], ["id"], [{"id": 1}])
    assert result.problems == ["the output has columns the test does not expect: `loaded_at`, `extra` "
                               "(name them in the expected rows, or in `ignore_columns`)"]
    assert compare(["Id", "loaded_at"], [(1, "now")], ["id"], [{"ID": 1}], ignore_columns=["LOADED_AT"]).passed
    absent = compare(["id"], [(1,)], ["id", "name"], [{"id": 1, "name": "a"}])
    assert absent.problems == ["the output has no column `name`"] and not absent.passed


def test_a_column_an_expected_row_leaves_out_is_null() -> None:
    assert compare(["id", "v"], [(1, None), (2, 5)], ["id", "v"], [{"id": 1}, {"id": 2, "v": 5}]).passed


def test_no_rows_expected_passes_on_an_empty_output_whatever_its_columns() -> None:
    assert compare(["a", "b"], [], [], []).passed
    assert compare(["a"], [(1,)], [], []).unexpected == [{"a": 1}]
