"""Errors a person can hit say what happened, where, and what to do; none echoes a literal credential.

One table: each case builds a project from a template, breaks one thing, runs the real CLI and
checks the exit code and the words of what / where / what-to-do. Cases are the error paths
reviewed for the first-hour issue (config values, the key path, params, unknown run and
pipeline, busy warehouse, bad cron, templates, init folders, roles, the assistant's flags).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flowdeck.engine.masking import mask, mask_config_line
from flowdeck.engine.project.yamlfile import parse_yaml
from flowdeck.engine.secrets.literals import literal_credentials
from tests.conftest import run_flowdeck

Setup = Callable[[Path], None]


def _edit(relative: str, old: str, new: str) -> Setup:
    def setup(root: Path) -> None:
        path = root / relative
        text = path.read_text()
        assert old in text, (old, path)
        path.write_text(text.replace(old, new, 1))
    return setup


def _nothing(root: Path) -> None:
    pass


@dataclass
class Case:
    """A broken thing and what the error about it must say."""

    args: tuple[str, ...]
    setup: Setup = _nothing
    code: int = 2
    what: str = ""  # a regular expression: what happened
    where: str | None = None  # a regular expression: the file:line:col, key, or the thing named
    todo: str = ""  # a regular expression: the hint
    absent: tuple[str, ...] = ()
    template: str = "incremental_daily"
    in_project: bool = True
    env: dict[str, str] = field(default_factory=dict)


PIPELINE = "pipelines/sales_daily/pipeline.yaml"
CASES = {
    "bad_cron": Case(("validate",), _edit(PIPELINE, '"30 2 * * *"', '"30 25 * * *"'),
                     what=r"`cron`: invalid cron expression '30 25 \* \* \*'.*maximum value \(23\)",
                     where=r"pipeline\.yaml:\d+:9: .*\n.*\n.*\^\nkey: schedule\.cron", todo=r"expected: five-field cron"),
    "bad_timezone_at_run": Case(("run", "sales_daily"), _edit(PIPELINE, "timezone: UTC", "timezone: Europe/Pariss"),
                                what="unknown time zone 'Europe/Pariss'", where=r"key: schedule\.timezone",
                                todo=r"expected: IANA time zone"),
    "unknown_key": Case(("validate",), _edit(PIPELINE, "    watermark:", "    watermak:"),
                        what="unknown key `watermak`", where=r"key: steps\[1\]\.watermak", todo="did you mean `watermark`"),
    "missing_key": Case(("validate",), _edit(PIPELINE, "    sql: revenue_per_day.sql\n", "    sql: revenue_per_day.sql\n"
                                             "  - name: lonely\n    kind: load\n    table: sales\n"),
                        what="`to` is required here but missing", where=r"key: steps\[3\]\.to", todo="add `to:`"),
    "missing_sql_file": Case(("validate",), _edit(PIPELINE, "sql: sales.sql", "sql: salez.sql"),
                             what="SQL file not found: salez.sql", where=r"key: steps\[1\]\.sql",
                             todo="set `sql:` to the file"),
    "bad_param": Case(("run", "hello", "--param", "min_amount=lots"), template="minimal",
                      what="parameter `min_amount` must be a number, got 'lots'", todo="--param min_amount=3.5"),
    "unknown_param": Case(("run", "hello", "--param", "max=1"), template="minimal",
                          what="pipeline `hello` has no parameter `max` \\(declared: min_amount\\)",
                          todo="declare it under `params:`"),
    "unknown_run": Case(("show", "20990101-000000-abcdef"), what="no run with id 20990101-000000-abcdef",
                        where="in the ledger of this project", todo="flowdeck runs"),
    "unknown_pipeline": Case(("run", "sales_dialy"), what="no pipeline named `sales_dialy`",
                             todo="did you mean `sales_daily`"),
    "unknown_template": Case(("init", "new", "--template", "file_trigger"), in_project=False,
                             what="no project template named `file_trigger`; nothing was written",
                             todo="did you mean `file_triggered`\\?.*--list-templates"),
    "init_over_files": Case(("init", ".", "--template", "minimal"), template="minimal",
                            what="already holds a flowdeck project .*nothing was written", todo="choose an empty or new folder"),
    "roles_refusal": Case(("run", "sales_daily"), _edit("flowdeck.yaml", "runtime_dir: .flowdeck",
                                                        "runtime_dir: .flowdeck\nroles:\n  admins: [nobody_else]"),
                          code=3, what="is a viewer in this project; running pipelines \\(sales_daily\\) needs the operator role",
                          todo="roles.operators in flowdeck.yaml"),
    "assistant_missing_flag": Case(("new", "pipeline", "orders", "--source", "data/daily/*.csv"),
                                   what="missing answer: when should it run \\(no terminal to ask on\\)",
                                   todo="pass --cron, --interval, --watch or --no-schedule"),
    "assistant_bad_cron": Case(("new", "pipeline", "orders", "--source", "data/daily/*.csv", "--cron", "0 6 * *"),
                               what="the answer for `cron` is not usable: invalid cron expression", todo="change --cron"),
    "assistant_unknown_column": Case(("new", "pipeline", "orders", "--source", "data/daily/*.csv", "--no-schedule",
                                      "--unique", "sale"), what="no column 'sale' in data/daily/\\*.csv \\(its columns: sale_id",
                                     todo="change --unique"),
    "silence_duration": Case(("alerts", "silence", "sales_daily", "--for", "a while"), what="--for expects a duration",
                             todo="a number with a unit"),
    "literal_password_param": Case(
        ("validate",), _edit(PIPELINE, "schedule:", "params:\n  db_password:\n    default: \"hunter22\"\n\nschedule:"),
        what="`db_password` holds a literal credential", where=r"key: params\.db_password\.default\n",
        todo="flowdeck secrets set NAME", absent=("hunter22",)),
    "literal_password_url": Case(
        ("validate",), _edit("flowdeck.yaml", "runtime_dir: .flowdeck", "runtime_dir: .flowdeck\nalerts:\n  channels:\n"
                             "    ops: {type: email, url: \"mailtos://ops:hunter22@smtp.example.com\"}"),
        what="this URL holds a literal password", where=r"key: alerts\.channels\.ops\.url",
        todo="flowdeck secrets set NAME", absent=("hunter22",)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_error_says_what_where_and_what_to_do(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    root = tmp_path / "p"
    assert run_flowdeck("init", str(root), "--template", case.template, cwd=tmp_path).returncode == 0
    case.setup(root)
    result = run_flowdeck(*case.args, project=root if case.in_project else None, cwd=root if case.in_project else tmp_path)
    assert result.returncode == case.code, result
    assert "Traceback" not in result.output
    text = result.stderr
    assert re.search(case.what, text), (case.what, text)
    if case.where:
        assert re.search(case.where, text), (case.where, text)
    hint = text[text.index("hint: "):] if "hint: " in text else ""
    assert re.search(case.todo, hint, re.S), (case.todo, text)
    for secret in case.absent:
        assert secret not in result.output


def test_a_busy_warehouse_names_the_holder_and_what_to_do(tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert run_flowdeck("init", str(root), "--template", "minimal", cwd=tmp_path).returncode == 0
    assert run_flowdeck("run", "hello", project=root).returncode == 0
    project_file = root / "flowdeck.yaml"
    project_file.write_text(project_file.read_text().replace("  path: warehouse.duckdb", "  path: warehouse.duckdb\n  lock_timeout: 1s"))
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(120)", str(root / ".flowdeck" / "warehouse.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run_flowdeck("run", "hello", project=root)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode in (1, 4), result
    assert f"held by process {holder.pid}" in result.output
    assert "lock_timeout" in result.output and "Traceback" not in result.output


# -- the literal-credential scanner: references are never literals, literals always are -----------------


@pytest.mark.parametrize(("url", "literal"), [
    ("postgresql://user:${secret:PG}@db.example.com/sales", False),
    ("postgresql://${env:PGUSER}:${secret:PG}@db.example.com/sales", False),
    ("scheme://${env:TOKEN}@host/path", False),
    ("jsons://${env:HOOK_USER}@hooks.example.com/x", False),
    ("mailtos://${env:SMTP_USER}:${secret:SMTP}@smtp.example.com", False),
    ("postgresql://user:pa55word@db.example.com/sales", True),
    ("postgresql://${env:PGUSER}:pa55word@db.example.com/sales", True),
    ("mailtos://ops:hunter22@smtp.example.com", True),
])
def test_references_in_a_url_are_not_literal_credentials(url: str, literal: bool) -> None:
    document = parse_yaml(f"target:\n  url: \"{url}\"\n", Path("x.yaml"))
    problems = literal_credentials(document)
    assert bool(problems) == literal, [problem.render() for problem in problems]
    masked = mask(url)
    if literal:
        assert "***" in masked and ("pa55word" not in masked and "hunter22" not in masked)
    else:
        assert masked == url  # a reference is not a password to hide


@pytest.mark.parametrize(("line", "shown"), [
    ("  password: hunter22   # temporary", "  password: ***   # temporary"),
    ('  password: "${secret:PG}"', '  password: "${secret:PG}"'),
    ("  - {user: app, api_key: 'abc123def'}", "  - {user: app, api_key: ***}"),
    ("  url: postgres://app:s3cret99@db/x", "  url: postgres://app:***@db/x"),
    ("  name: password", "  name: password"),
])
def test_config_lines_shown_in_errors_hide_credentials(line: str, shown: str) -> None:
    assert mask_config_line(line) == shown
