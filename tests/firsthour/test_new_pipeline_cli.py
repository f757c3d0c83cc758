"""`flowdeck new pipeline` as a person or a script uses it: real subprocesses, flags, piped answers, no terminal."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import FLOWDECK, clean_env, run_flowdeck, warehouse_rows


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


def test_a_wrong_piped_answer_stops_without_writing(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = _piped(root, ["bad_cron", "data/incoming/orders/*.csv", "cron", "0 6 * *"])
    assert result.returncode == 2
    assert "invalid cron expression" in result.stderr and "--cron" in result.stderr
    assert not (root / "pipelines/bad_cron").exists()


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
