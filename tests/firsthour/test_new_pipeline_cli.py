"""`flowdeck new pipeline` as a person or a script uses it: real subprocesses, flags, piped answers,
and a real terminal (a pty) where it asks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import FLOWDECK, REPO_ROOT, clean_env, run_flowdeck, warehouse_rows
from tests.docs.markdown import section
from tests.docs.output import mismatch
from tests.firsthour.terminal import Terminal


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    assert run_flowdeck("init", str(root), "--template", "files_to_tables", cwd=tmp_path).returncode == 0
    return root


def _piped(root: Path, answers: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(FLOWDECK), "--project", str(root), "new", "pipeline", "--interactive", *args],
                          input="".join(f"{answer}\n" for answer in answers), capture_output=True, text=True,
                          env=clean_env(), cwd=root, timeout=120)


def test_flags_and_yes_write_a_pipeline_that_runs(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = run_flowdeck("new", "pipeline", "customers_copy", "--source", "data/incoming/customers.csv",
                          "--interval", "1h", "--not-null", "name", "--min-rows", "1",
                          "--export", "exports/customers_copy.csv", "--yes", project=root)
    assert result.returncode == 0, result
    assert "--- pipelines/customers_copy/pipeline.yaml" in result.stdout  # the files are shown before writing
    assert "wrote pipelines/customers_copy/pipeline.yaml" in result.stdout
    assert "valid: customers_copy passes `flowdeck validate`" in result.stderr
    assert run_flowdeck("validate", project=root).returncode == 0
    run = run_flowdeck("run", "customers_copy", project=root)
    assert run.returncode == 0, run
    lines = (root / "data/incoming/customers.csv").read_text().splitlines()
    assert warehouse_rows(root, "SELECT count(*) FROM customers_copy") == [(len(lines) - 1,)]
    assert len((root / "exports/customers_copy.csv").read_text().splitlines()) == len(lines)


def test_piped_answers_are_asked_in_order_and_the_file_trigger_is_written(tmp_path: Path) -> None:
    root = _project(tmp_path)
    answers = ["landed", "data/incoming/orders/*.csv", "files", "", "", "10s", "archive/orders",
               "order_id", "", "", "landed_orders", "", "y"]
    result = _piped(root, answers)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "columns: order_id, customer_id" in result.stdout  # what the source holds, before asking for checks
    assert "Folder to watch [data/incoming/orders]:" in result.stdout
    text = (root / "pipelines/landed/pipeline.yaml").read_text()
    assert '- folder: data/incoming/orders' in text and 'patterns: ["*.csv"]' in text and "settle: 10s" in text
    assert "archive: archive/orders" in text and "not_null: [order_id]" in text and "- name: landed_orders" in text
    assert run_flowdeck("validate", "landed", project=root).returncode == 0


def test_a_wrong_piped_answer_is_explained_and_the_next_line_answers_again(tmp_path: Path) -> None:
    root = _project(tmp_path)
    answers = ["nightly", "data/incoming/orders/*.csv", "cron", "0 6 * *", "0 6 * * *", "", "", "", "", "", "", "y"]
    result = _piped(root, answers)
    assert result.returncode == 0, result.stdout + result.stderr
    transcript = result.stdout.splitlines()
    wrong = transcript.index("Cron expression (minute hour day month weekday) [0 6 * * *]: 0 6 * *")
    assert "invalid cron expression" in transcript[wrong + 1]
    assert transcript[wrong + 2] == "Cron expression (minute hour day month weekday) [0 6 * * *]: 0 6 * * *"
    assert 'cron: "0 6 * * *"' in (root / "pipelines/nightly/pipeline.yaml").read_text()


def test_piped_answers_ending_after_a_wrong_one_stop_without_writing(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = _piped(root, ["bad_cron", "data/incoming/orders/*.csv", "cron", "0 6 * *"])
    assert result.returncode == 2
    assert "invalid cron expression" in result.stdout
    assert "missing answer: Cron expression" in result.stderr and "--cron" in result.stderr
    assert not (root / "pipelines/bad_cron").exists()


def test_a_flag_that_makes_an_invalid_pipeline_is_refused_before_any_file_is_shown(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = run_flowdeck("new", "pipeline", "x", "--source", "data/incoming/orders/*.csv", "--no-schedule",
                          "--unique", "nosuch", "--yes", project=root)
    assert result.returncode == 2
    assert "no column 'nosuch'" in result.stderr and "change --unique" in result.stderr
    assert result.stdout == ""  # no preview of files that will not be written
    assert not (root / "pipelines/x").exists()


TRANSCRIPT = section(REPO_ROOT / "docs" / "new-pipeline.md", "## On a terminal")[0].text
QUESTION = re.compile(r"^(?P<prompt>\S.*:)(?: (?P<answer>[^:]*))?$")  # "Time zone [UTC]: Europe/Paris"


def test_on_a_terminal_the_documented_session_asks_as_shown_and_the_preview_is_wrapped_not_cut(tmp_path: Path) -> None:
    """docs/new-pipeline.md's session, typed on an 80-column terminal: each question as shown, then the
    files (their lines longer than 80 columns wrapped, not cut), then the confirmation."""
    root = tmp_path / "shop"
    assert run_flowdeck("init", str(root), "--template", "minimal", cwd=tmp_path).returncode == 0
    (root / "data/orders").mkdir()
    (root / "data/orders/2026-11.csv").write_text("order_id,customer_id,status,amount,ordered_at\n"
                                                  "1,7,paid,12.5,2026-11-02 09:14:00\n")
    command, *session = TRANSCRIPT.splitlines()
    assert command == "$ flowdeck new pipeline"
    terminal = Terminal([str(FLOWDECK), "new", "pipeline"], env=clean_env(), cwd=root, columns=80)
    for line in session:
        question = QUESTION.match(line)
        if question and not line.startswith(" "):
            terminal.expect(question["prompt"] + " ")
            terminal.type(question["answer"] or "")
    terminal.expect("Write these 2 files? (y/n) [y]: ")
    terminal.type("y")
    assert terminal.wait() == 0, terminal.text
    shown = terminal.text
    asked = shown[:shown.index("Also export it")]
    asked += shown[shown.index("Also export it"):].split("\n", 1)[0]
    assert mismatch("\n".join(session), asked) is None, mismatch("\n".join(session), asked)
    # every line of the files written was on the screen whole: lines past 80 columns wrapped, not cut
    words_shown = " ".join(shown.split())
    written = [root / "pipelines/orders/pipeline.yaml", root / "pipelines/orders/orders.sql"]
    long_lines = [line for path in written for line in path.read_text().splitlines() if len(line) > 80]
    assert long_lines, "the files have no line past 80 columns: this test would prove nothing"
    cut = [line for path in written for line in path.read_text().splitlines()
           if line.strip() and " ".join(line.split()) not in words_shown]
    assert not cut, cut
    assert "wrote pipelines/orders/orders.sql" in shown
    assert run_flowdeck("run", "orders", project=root).returncode == 0


def test_answers_running_out_name_the_missing_one(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = _piped(root, ["short", "data/incoming/orders/*.csv"])
    assert result.returncode == 2
    assert "missing answer: Choose (stdin ended)" in result.stderr and "--cron, --interval, --watch" in result.stderr
    assert not (root / "pipelines/short").exists()


def test_without_a_terminal_nothing_is_asked_and_the_missing_flag_is_named(tmp_path: Path) -> None:
    root = _project(tmp_path)
    missing_source = run_flowdeck("new", "pipeline", "x", "--no-schedule", project=root, timeout=30)
    assert missing_source.returncode == 2
    assert "missing answer: Source files" in missing_source.stderr and "pass --source" in missing_source.stderr
    no_name = run_flowdeck("new", "pipeline", project=root, timeout=30)
    assert no_name.returncode == 2 and "pass NAME (the argument)" in no_name.stderr
    unconfirmed = run_flowdeck("new", "pipeline", "x", "--source", "data/incoming/customers.csv", "--no-schedule",
                               project=root, timeout=30)
    assert unconfirmed.returncode == 2 and "pass --yes" in unconfirmed.stderr
    assert "--- pipelines/x/pipeline.yaml" in unconfirmed.stdout  # shown, validated, not written
    assert not (root / "pipelines/x").exists()


def test_dry_run_shows_and_validates_but_writes_nothing(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = run_flowdeck("new", "pipeline", "x", "--source", "data/incoming/customers.csv", "--cron", "15 3 * * *",
                          "--timezone", "Europe/Paris", "--dry-run", project=root)
    assert result.returncode == 0, result
    assert 'cron: "15 3 * * *"' in result.stdout and "dry run: nothing written" in result.stderr
    assert not (root / "pipelines/x").exists()


def test_a_later_error_in_the_written_file_names_the_key_to_change(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert run_flowdeck("new", "pipeline", "nightly", "--source", "data/incoming/customers.csv", "--cron", "0 2 * * *",
                        "--unique", "customer_id", "--yes", project=root).returncode == 0
    path = root / "pipelines/nightly/pipeline.yaml"
    path.write_text(path.read_text().replace('"0 2 * * *"', '"0 2 * * 8"').replace("unique:", "uniqe:"))
    result = run_flowdeck("validate", "nightly", project=root)
    assert result.returncode == 2
    assert f"{path}:" in result.stderr
    assert "key: schedule.cron" in result.stderr and "key: steps[1].checks[0].uniqe" in result.stderr
    assert "did you mean `unique`?" in result.stderr


def test_an_existing_pipeline_name_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = run_flowdeck("new", "pipeline", "clean_tables", "--source", "x.csv", "--no-schedule", "--yes", project=root)
    assert result.returncode == 2
    assert "already has a pipeline named clean_tables" in result.stderr and "NAME" in result.stderr


def test_a_database_table_becomes_an_extract_through_the_connection(tmp_path: Path) -> None:
    import sqlite3
    from contextlib import closing

    root = tmp_path / "p"
    assert run_flowdeck("init", str(root), "--template", "database_export", cwd=tmp_path).returncode == 0
    unknown = run_flowdeck("new", "pipeline", "c", "--connection", "shopp", "--source-table", "customers",
                           "--no-schedule", "--yes", project=root)
    assert unknown.returncode == 2 and "no connection named shopp in flowdeck.yaml (declared: shop)" in unknown.stderr
    assert "change --connection" in unknown.stderr
    result = _piped(root, ["customer_copy", "2", "customers", "none", "", "customer_id", "", "", "", "y"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2. shop" in result.stdout
    text = (root / "pipelines/customer_copy/pipeline.yaml").read_text()
    assert "connection: shop" in text and "table: customers" in text
    assert run_flowdeck("run", "customer_copy", project=root).returncode == 0
    with closing(sqlite3.connect(root / "data/shop.sqlite")) as db:
        expected = db.execute("SELECT count(*) FROM customers").fetchone()[0]
    assert warehouse_rows(root, "SELECT count(*) FROM customer_copy") == [(expected,)]
