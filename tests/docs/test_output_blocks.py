"""How a documented output block is compared with what its command printed (tests/docs/output.py)."""

from __future__ import annotations

from tests.docs.output import mismatch, normalise

PRINTED = """run 20261205-093032-eed152 of orders
✓ succeeded  raw_orders (extract)  7 rows  0.02s
✓ succeeded  orders_clean (transform)  6 rows  10.21s
✗ failed  run 20261205-093032-eed152 of orders in 10.40s
2026-12-05 09:30:45 error   the source file /tmp/pytest-7/work/shop/data/orders.csv does not exist (pid 12941 on vm)
"""

DOCUMENTED = """run 20261127-143631-737633 of orders
✓ succeeded  raw_orders (extract)  7 rows  0.37s
✓ succeeded  orders_clean (transform)  6 rows  0.17s
✗ failed  run 20261127-143631-737633 of orders in 1.49s
2026-11-27 14:56:22 error   the source file /home/you/shop/data/orders.csv does not exist (pid 4242 on etl1)
"""

PLACES = {"/tmp/pytest-7/work": "/home/you"}


def test_times_ids_durations_widths_and_places_do_not_count() -> None:
    assert mismatch(DOCUMENTED, PRINTED, PLACES) is None


def test_a_different_word_or_number_of_rows_counts() -> None:
    assert mismatch(DOCUMENTED.replace("6 rows", "5 rows"), PRINTED, PLACES) is not None
    assert mismatch(DOCUMENTED.replace("✗ failed  run", "✓ succeeded  run"), PRINTED, PLACES) is not None
    assert mismatch(DOCUMENTED, PRINTED.replace("orders.csv does", "orders.parquet does"), PLACES) is not None


def test_every_line_counts_unless_elided() -> None:
    without_first = DOCUMENTED.split("\n", 1)[1]
    diff = mismatch(without_first, PRINTED, PLACES)
    assert diff is not None and "+run <run> of orders" in diff  # the line the page leaves out, in the diff
    assert mismatch("...\n" + without_first, PRINTED, PLACES) is None
    assert mismatch(DOCUMENTED + "one more line\n", PRINTED, PLACES) is not None  # a promised line that never came
    middle = "run 20261127-143631-737633 of orders\n...\n✗ failed  run 20261127-143631-737633 of orders in 1.49s\n...\n"
    assert mismatch(middle, PRINTED, PLACES) is None


def test_a_folder_is_replaced_only_where_it_is_the_whole_name() -> None:
    assert normalise("/tmp/pytest-7/work/shop and /tmp/pytest-7/workshop", PLACES) == [
        "/home/you/shop and /tmp/pytest-7/workshop"]
