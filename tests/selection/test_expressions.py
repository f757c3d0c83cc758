"""Every form of `--select`/`--exclude` picks exactly the right steps of a real branching pipeline
(planned from YAML and SQL by the real planner), in plan order; every bad expression is a
SelectionError naming the bad token, the names close to it and what the grammar accepts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowdeck.engine.plan.planner import Plan, build_plan
from flowdeck.engine.plan.selection import SelectionError, named_steps, parse, select_steps, selection_of
from flowdeck.engine.project.project import Project
from tests.selection.conftest import ORDER, PIPELINE, UPSTREAM, make_branching_project

ALL = set(ORDER)
DOWN_OF_JOINED = {"joined", "per_customer", "order_count", "check_joined", "export_count"}
UP_OF_JOINED = {"joined", "orders", "customers", "src_orders", "src_customers"}


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    root = make_branching_project(tmp_path_factory.mktemp("selection") / "project")
    return build_plan(Project.load(root), PIPELINE)


def test_the_pipeline_is_the_dag_the_tests_assume(plan: Plan) -> None:
    assert plan.order == ORDER
    assert {name: plan.steps[name].upstream for name in ORDER} == UPSTREAM


CASES: list[tuple[str | None, str | None, set[str]]] = [
    # one step, and the graph operators
    ("joined", None, {"joined"}),
    ("joined+", None, DOWN_OF_JOINED),
    ("+joined", None, UP_OF_JOINED),
    ("+joined+", None, DOWN_OF_JOINED | UP_OF_JOINED),
    ("src_orders+", None, {"src_orders", "orders"} | DOWN_OF_JOINED),
    ("customers+", None, {"customers"} | DOWN_OF_JOINED),
    ("+per_customer", None, {"per_customer"} | UP_OF_JOINED),
    ("+order_count+", None, {"order_count", "export_count"} | UP_OF_JOINED),
    # dbt's depths: N levels up or down
    ("joined+1", None, {"joined", "per_customer", "order_count", "check_joined"}),
    ("1+joined", None, {"joined", "orders", "customers"}),
    ("2+export_count", None, {"export_count", "order_count", "joined"}),
    ("1+joined+1", None, {"joined", "orders", "customers", "per_customer", "order_count", "check_joined"}),
    ("src_orders+0", None, {"src_orders"}),
    # @: downstream, and everything those need
    ("@orders", None, ALL),
    ("@order_count", None, {"order_count", "export_count"} | UP_OF_JOINED),
    # tags, with operators too
    ("tag:raw", None, {"src_orders", "src_customers"}),
    ("tag:daily", None, {"src_orders", "orders", "joined"}),
    ("tag:finance", None, {"joined", "order_count", "export_count"}),
    ("tag:finance+", None, DOWN_OF_JOINED),
    ("+tag:finance", None, UP_OF_JOINED | {"order_count", "export_count"}),
    # unions (space) and intersections (comma)
    ("orders customers", None, {"orders", "customers"}),
    ("tag:raw order_count", None, {"src_orders", "src_customers", "order_count"}),
    ("tag:daily,joined+", None, {"joined"}),
    ("tag:daily,+joined", None, {"src_orders", "orders", "joined"}),
    ("+export_count,customers+", None, {"customers", "joined", "order_count", "export_count"}),
    ("tag:finance,joined+1", None, {"joined", "order_count"}),
    ("tag:raw,src_orders+ export_count", None, {"src_orders", "export_count"}),
    ("  tag:daily , joined+  ", None, {"joined"}),
    ("joined joined+", None, DOWN_OF_JOINED),
    # --exclude, with or without --select
    ("joined+", "check_joined", DOWN_OF_JOINED - {"check_joined"}),
    (None, "tag:raw", ALL - {"src_orders", "src_customers"}),
    ("+export_count", "+customers", {"src_orders", "orders", "joined", "order_count", "export_count"}),
    ("src_orders+", "tag:finance", {"src_orders", "orders", "per_customer", "check_joined"}),
    ("joined+", "order_count+ per_customer", {"joined", "check_joined"}),
    (None, None, ALL),
]


@pytest.mark.parametrize(("select", "exclude", "expected"), CASES, ids=[f"{s}|{x}" for s, x, _ in CASES])
def test_each_form_selects_exactly_its_steps_in_plan_order(plan: Plan, select: str | None, exclude: str | None,
                                                           expected: set[str]) -> None:
    assert select_steps(plan, select, exclude) == [name for name in ORDER if name in expected]


@pytest.mark.parametrize(("select", "modified", "expected"), [
    ("state:modified", {"customers"}, {"customers"}),
    ("state:modified+", {"customers"}, {"customers"} | DOWN_OF_JOINED),
    ("+state:modified", {"customers"}, {"customers", "src_customers"}),
    ("state:modified+", {"orders", "order_count"}, {"orders"} | DOWN_OF_JOINED),
    ("state:modified+,tag:finance", {"customers"}, {"joined", "order_count", "export_count"}),
    ("state:modified orders", {"export_count"}, {"orders", "export_count"}),
    ("state:modified+", {"customers", "a_step_since_removed"}, {"customers"} | DOWN_OF_JOINED),
])
def test_state_modified_selects_what_the_fingerprints_say_changed(plan: Plan, select: str, modified: set[str],
                                                                  expected: set[str]) -> None:
    asked: list[int] = []

    def changed() -> set[str]:
        asked.append(1)
        return set(modified)

    assert select_steps(plan, select, modified=changed) == [name for name in ORDER if name in expected]
    assert asked == [1]  # asked once, however many atoms say state:


def test_the_modified_steps_are_not_asked_for_unless_an_expression_says_state(plan: Plan) -> None:
    def never() -> set[str]:
        raise AssertionError("selection read the fingerprints without state:")

    assert select_steps(plan, "joined+", "tag:raw", modified=never) == [n for n in ORDER if n in DOWN_OF_JOINED]


GRAMMAR_WORDS = "a selection is STEP, STEP+"
ERRORS: list[tuple[str | None, str | None, list[str]]] = [
    ("orderz", None, ["--select `orderz`", "pipeline `branches` has no step `orderz`", "did you mean `orders`",
                      GRAMMAR_WORDS]),
    ("joind+", None, ["has no step `joind`", "did you mean `joined`"]),
    ("+tag:finance,joined+ custmers", None, ["has no step `custmers`", "`customers`"]),
    ("tag:finanse", None, ["no step of pipeline `branches` has tag `finanse`", "did you mean `tag:finance`?",
                           "the tags of its steps: daily, finance, raw"]),
    ("tga:daily", None, ["unknown method `tga:` in `tga:daily`", "did you mean `tag:`?", GRAMMAR_WORDS]),
    ("state:changed", None, ["unknown state `changed`", "`state:modified`"]),
    ("orders++", None, ["cannot read `orders++`", GRAMMAR_WORDS]),
    ("@+orders", None, ["cannot read `@+orders`"]),
    ("orders+joined", None, ["cannot read `orders+joined`"]),
    ("orders,,joined", None, ["a comma with nothing on one side"]),
    ("   ", None, ["--select is empty", GRAMMAR_WORDS]),
    ("src_orders,src_customers", None, ["`src_orders,src_customers` selects no step",
                                        "`src_orders` selects src_orders; `src_customers` selects src_customers"]),
    ("joined", "+joined", ["--exclude `+joined` leaves none of the 1 step(s) --select `joined` selects"]),
    (None, "joind", ["--exclude `joind`", "has no step `joind`", "did you mean `joined`"]),
    ("state:modified+", None, ["`state:modified` needs the steps' fingerprints"]),
]


@pytest.mark.parametrize(("select", "exclude", "words"), ERRORS, ids=[f"{s}|{x}" for s, x, _ in ERRORS])
def test_a_bad_expression_says_which_token_what_is_close_and_what_is_accepted(
        plan: Plan, select: str | None, exclude: str | None, words: list[str]) -> None:
    with pytest.raises(SelectionError) as raised:
        select_steps(plan, select, exclude)
    for word in words:
        assert word in str(raised.value)
    assert raised.value.exit_code == 2


def test_state_modified_with_nothing_changed_says_so(plan: Plan) -> None:
    with pytest.raises(SelectionError, match="selects no step: no step changed since its last run"):
        select_steps(plan, "state:modified+", modified=set)


def test_what_show_says_a_run_selected() -> None:
    assert selection_of({}) == ""
    assert selection_of({"reprocess": True}) == ""
    assert selection_of({"select": "tag:daily", "exclude": "joined", "selected_steps": ["a", "b"]}) == \
        "--select tag:daily --exclude joined (2 steps)"
    assert selection_of({"from_step": "orders", "selected_steps": ["orders"]}) == "from step orders (1 step)"
    assert selection_of({"from_step": "orders"}) == "from step orders"  # a run queued before selections


# -- the algebra, on random expressions -------------------------------------------------------------------------

NAMES = st.sampled_from([*ORDER, "tag:raw", "tag:daily", "tag:finance"])
OPERATED = st.tuples(st.sampled_from(["", "+", "1+", "2+"]), NAMES, st.sampled_from(["", "+", "+1", "+2"])) \
    .map(lambda parts: "".join(parts))
PROPERTY = settings(max_examples=200, deadline=timedelta(seconds=5), database=None)


def _selected(plan: Plan, select: str | None, exclude: str | None = None) -> set[str]:
    try:
        return set(select_steps(plan, select, exclude))
    except SelectionError:
        return set()


@PROPERTY
@given(a=OPERATED, b=OPERATED)
def test_union_is_commutative_and_is_the_union_of_its_parts(plan: Plan, a: str, b: str) -> None:
    assert select_steps(plan, f"{a} {b}") == select_steps(plan, f"{b} {a}")
    assert set(select_steps(plan, f"{a} {b}")) == set(select_steps(plan, a)) | set(select_steps(plan, b))


@PROPERTY
@given(a=OPERATED, b=OPERATED)
def test_intersection_is_the_steps_both_select_and_exclude_takes_them_away(plan: Plan, a: str, b: str) -> None:
    both = set(select_steps(plan, a)) & set(select_steps(plan, b))
    assert _selected(plan, f"{a},{b}") == both == _selected(plan, f"{b},{a}")
    assert _selected(plan, a, b) == set(select_steps(plan, a)) - set(select_steps(plan, b))


@PROPERTY
@given(name=NAMES)
def test_the_operators_only_add_steps_and_depths_grow_to_the_whole_closure(plan: Plan, name: str) -> None:
    alone = set(select_steps(plan, name))
    down = [set(select_steps(plan, f"{name}+{n}")) for n in (1, 2, 3, 4)] + [set(select_steps(plan, f"{name}+"))]
    up = [set(select_steps(plan, f"{n}+{name}")) for n in (1, 2, 3, 4)] + [set(select_steps(plan, f"+{name}"))]
    for chain in (down, up):
        assert alone <= chain[0] and all(a <= b for a, b in zip(chain, chain[1:]))
        assert chain[-2] == chain[-1]  # the DAG is 4 deep at most
    assert set(select_steps(plan, f"+{name}+")) == down[-1] | up[-1]
    assert select_steps(plan, name) == [step for step in ORDER if step in alone]


def test_parse_reads_the_union_of_intersections() -> None:
    terms = parse("2+a,tag:b+ @c")
    assert [[(atom.method, atom.value, atom.up, atom.down, atom.at) for atom in term] for term in terms] == [
        [("step", "a", 2, 0, False), ("tag", "b", 0, None, False)], [("step", "c", 0, 0, True)]]


def test_tags_are_checked_where_they_are_written(tmp_path: Path) -> None:
    from flowdeck.engine.errors import ConfigError

    root = make_branching_project(tmp_path / "project")
    yaml_path = root / "pipelines" / PIPELINE / "pipeline.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("tags: [raw]", "tags: [raw, 'not one']"))
    with pytest.raises(ConfigError) as raised:
        build_plan(Project.load(root), PIPELINE)
    message = str(raised.value)
    assert "pipeline.yaml:9:" in message and "'not one' is not a valid tag" in message
    assert "key: steps[1].tags[1]" in message and "letters, digits, _ and -" in message


def test_the_steps_named_by_name_are_those_a_run_rebuilds_whatever_their_fingerprint(plan: Plan) -> None:
    selected = select_steps(plan, "tag:daily,orders+ +per_customer", "customers")
    assert named_steps("tag:daily,orders+ +per_customer", selected) == {"orders", "per_customer"}
    assert named_steps("tag:daily+", select_steps(plan, "tag:daily+")) == set()
    assert named_steps(None, ORDER) == set()
