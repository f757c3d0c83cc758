"""YAML with positions and the config models' errors, in flowdeck's words."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from flowdeck.engine.errors import EXIT_BAD_INPUT, ConfigError
from flowdeck.engine.project.config.fields import parse_duration
from flowdeck.engine.project.config.pipeline import PipelineConfig
from flowdeck.engine.project.config.project import ProjectConfig
from flowdeck.engine.project.validation import validate_document
from flowdeck.engine.project.yamlfile import parse_yaml

STEPS = "steps:\n  - name: a\n    kind: extract\n    source: {path: data/a.csv}\n"


def _pipeline(text: str) -> PipelineConfig:
    return validate_document(parse_yaml(text, Path("pipeline.yaml")), PipelineConfig)


def _error(text: str, model: type = PipelineConfig) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        validate_document(parse_yaml(text, Path("pipeline.yaml")), model)
    assert caught.value.exit_code == EXIT_BAD_INPUT
    return caught.value


def test_positions_of_keys_and_values_are_remembered() -> None:
    document = parse_yaml("a: 1\nsteps:\n  - name: x\n    sql: x.sql\n", Path("p.yaml"))
    assert (document.location(("steps", 0, "sql")).line, document.location(("steps", 0, "sql")).column) == (4, 10)
    assert document.location(("steps", 0, "sql"), key=True).column == 5
    assert document.location(("steps", 0, "missing")).line == 3  # falls back to the parent


def test_yaml_syntax_error_has_line_column_and_excerpt() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml("steps:\n  - name: a\n   kind: [\n", Path("p.yaml"))
    error = caught.value
    assert error.location is not None and error.location.line >= 3
    assert "this is not valid YAML" in error.what
    assert "|" in (error.excerpt or "") and "^" in (error.excerpt or "")


def test_duplicate_key_is_an_error_not_a_silent_overwrite() -> None:
    with pytest.raises(ConfigError, match="the key `name` appears twice") as caught:
        parse_yaml("name: a\nname: b\n", Path("p.yaml"))
    assert caught.value.location.line == 2


def test_unknown_key_suggests_the_nearest_and_points_at_it() -> None:
    error = _error(STEPS + "shedule:\n  cron: '0 6 * * *'\n")
    assert error.what == "unknown key `shedule`"
    assert error.hint == "did you mean `schedule`?"
    assert (error.location.line, error.location.column) == (5, 1)


def test_unknown_key_inside_a_step_is_checked_against_that_steps_kind() -> None:
    error = _error("steps:\n  - name: a\n    kind: transform\n    materialised: view\n")
    assert error.what == "unknown key `materialised`" and error.hint == "did you mean `materialized`?"
    assert error.location.line == 4


def test_unknown_key_with_nothing_close_lists_the_valid_ones() -> None:
    error = _error("zzz: 1\n", ProjectConfig)
    assert error.hint.startswith("valid keys here: name, runtime_dir")


def test_missing_required_key_says_what_to_add() -> None:
    error = _error("steps:\n  - name: a\n    kind: load\n    table: t\n")
    assert error.what == "`to` is required here but missing"
    assert error.hint.startswith("add `to:`")


def test_unknown_step_kind_suggests_the_nearest() -> None:
    error = _error("steps:\n  - name: a\n    kind: transfrom\n")
    assert "unknown step kind `transfrom`" in error.what and error.hint == "did you mean `transform`?"
    assert error.location.line == 3


def test_wrong_literal_lists_the_choices() -> None:
    error = _error("steps:\n  - name: a\n    kind: transform\n    materialized: ephemeral\n")
    assert error.what == "`materialized` must be one of table, view, incremental, not 'ephemeral'"


def test_bad_step_name_explains_the_rule() -> None:
    error = _error("steps:\n  - name: 2fast\n    kind: transform\n")
    assert "is not a valid name" in error.what and "letters, digits and underscores" in error.hint


def test_every_problem_is_reported_not_just_the_first() -> None:
    error = _error("shedule: {}\nsteps:\n  - name: a\n    kind: transfrom\n")
    rendered = error.render()
    assert "unknown key `shedule`" in rendered and "unknown step kind `transfrom`" in rendered


def test_a_check_needs_exactly_one_kind() -> None:
    error = _error("steps:\n  - name: a\n    kind: transform\n    checks:\n      - not_null: [x]\n        unique: [x]\n")
    assert "exactly one of" in error.what and "not_null, unique" in error.what


def test_defaults_fill_everything_optional() -> None:
    config = _pipeline(STEPS)
    assert config.params == {} and config.schedule is None and config.triggers == []
    project = validate_document(parse_yaml("", Path("flowdeck.yaml")), ProjectConfig)
    assert project.runtime_dir == ".flowdeck" and project.warehouse.path == "warehouse.duckdb"
    assert project.defaults.max_parallel_steps == 4 and project.warehouse.lock_timeout == timedelta(seconds=60)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("250ms", 0.25), (90, 90)])
def test_durations_read_the_way_people_write_them(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_a_bad_duration_is_explained() -> None:
    error = _error(STEPS + "triggers:\n  - folder: in\n    settle: soon\n")
    assert "expected a duration such as 30s" in error.what and error.location.line == 7


def test_schedule_needs_cron_or_interval_not_both() -> None:
    error = _error(STEPS + "schedule:\n  cron: '0 6 * * *'\n  interval: 5m\n")
    assert "exactly one of cron or interval" in error.what


def test_top_level_list_is_refused_with_a_reason() -> None:
    error = _error("- a\n- b\n")
    assert "expected a mapping of keys to values" in error.what and "a list" in error.what


def test_cron_fast_path_never_vouches_for_what_apscheduler_rejects() -> None:
    import itertools
    import random

    from apscheduler.triggers.cron import CronTrigger

    from flowdeck.engine.project.config.pipeline import plainly_valid_cron

    def accepted(expression: str) -> bool:
        try:
            CronTrigger.from_crontab(expression, timezone="UTC")
        except ValueError:
            return False
        return True

    pieces = ["*", "*/15", "*/59", "*/60", "0", "5", "7", "23", "31", "59", "60", "1-5", "5-1", "1-1", "0-59/59",
              "0-59/60", "1-31/30", "1-31/31", "1,2,3", "1,,2", "3/2", "mon", "jan", "L", "", "-1"]
    rng = random.Random(7)
    expressions = [" ".join(rng.choice(pieces) for _ in range(5)) for _ in range(3000)]
    expressions += ["0 6 * * *", "*/5 * * * *", "0 0 1 1 0", "0 0 * * 6", "0 0 * * 7", "0 0 0 * *", "0 6 * *",
                    "0 6 * * * *", " 0  6 * * * ", *(" ".join(p) for p in itertools.product(["0", "*/60"], repeat=5))]
    vouched = [expression for expression in expressions if plainly_valid_cron(expression)]
    assert len(vouched) > 10  # the fast path is taken for ordinary expressions
    assert [expression for expression in vouched if not accepted(expression)] == []
    assert plainly_valid_cron("0 6 * * *") and plainly_valid_cron("*/15 8-18 * * 0-4")


def test_triggers_are_file_triggers_or_after_triggers_told_apart_by_their_keys() -> None:
    config = _pipeline(STEPS + "triggers:\n  - folder: landing\n  - after: [orders, customers]\n  - after: orders\n")
    assert [trigger.folder for trigger in config.file_triggers] == ["landing"]
    assert [trigger.after for trigger in config.after_triggers] == [["orders", "customers"], ["orders"]]
    assert len(config.triggers) == 3


@pytest.mark.parametrize(("trigger", "what", "hint"), [
    ("  - foldr: landing\n", "`folder` is required here but missing", "add `folder:`"),  # a file trigger, as before
    ("  - patterns: ['*.csv']\n", "`folder` is required here but missing", "add `folder:`"),
    ("  - after: [orders]\n    folder: landing\n", "unknown key `folder`", "valid keys here: after"),
    ("  - after: []\n", "`after`: List should have at least 1 item after validation, not 0", None),
    ("  - after: [orders, orders]\n", "`after`: orders listed twice; list each pipeline once", None),
    ("  - after: ['2orders']\n", "'2orders' is not a valid name for `after`", "use letters, digits and underscores"),
])
def test_a_wrong_trigger_is_explained_where_it_is(trigger: str, what: str, hint: str | None) -> None:
    error = _error(STEPS + "triggers:\n" + trigger)
    assert error.what == what
    if hint is not None:
        assert error.hint is not None and error.hint.startswith(hint)
    assert error.location.line >= 6 and error.location.key.startswith("triggers[0]")
    assert ".follow" not in error.location.key and ".files" not in error.location.key  # union tags are not keys


def test_pydantic_plugins_stay_off_while_threads_overlap_and_the_variable_comes_back_after(monkeypatch) -> None:
    """A run takes its fingerprints (model dumps) on a thread of its own while its thread validates pipelines:
    no thread may see the plugins on inside, nor leave the variable set or unset it for the others."""
    import os
    import threading

    from flowdeck.engine.project.validation import without_pydantic_plugins

    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "mine")
    seen: set[str | None] = set()

    def overlap() -> None:
        for _ in range(500):
            with without_pydantic_plugins():
                seen.add(os.environ.get("PYDANTIC_DISABLE_PLUGINS"))

    threads = [threading.Thread(target=overlap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"1"}
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "mine"
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS")
    with without_pydantic_plugins():
        pass
    assert "PYDANTIC_DISABLE_PLUGINS" not in os.environ
