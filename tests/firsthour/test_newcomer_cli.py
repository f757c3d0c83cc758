"""Where a newcomer stumbled in their first hour with the CLI (issue 21), each driven as they met it:
the real `flowdeck` in a subprocess, on a project made by `flowdeck init`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import FLOWDECK, clean_env, run_flowdeck
from tests.firsthour.terminal import Terminal

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
MASTER_KEY = "a-master-key-long-enough-0123456789"


def _minimal(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    created = run_flowdeck("init", str(root), "--template", "minimal", cwd=tmp_path)
    assert created.returncode == 0, created
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, 1))


def test_a_misspelt_column_is_explained_with_the_describe_of_the_table_the_step_reads(tmp_path: Path) -> None:
    root = _minimal(tmp_path)
    _edit(root / "pipelines/hello/sales_by_city.sql", "sum(amount)", "sum(amout)")
    failed = run_flowdeck("run", "hello", project=root)
    assert failed.returncode == 1, failed
    shown = run_flowdeck("show", "last", project=root)
    assert 'Referenced column "amout" not found' in shown.stdout
    hint = 'hint: check the column name against the table `sales_by_city` reads: `flowdeck query "DESCRIBE raw_sales"`'
    assert hint in shown.stdout, shown
    assert "DESCRIBE table" not in shown.output
    # the command the hint gives works as written, and shows the column that was meant
    described = run_flowdeck("query", "DESCRIBE raw_sales", project=root)
    assert described.returncode == 0 and "amount" in described.stdout.split(), described


def test_status_lists_only_failures_no_later_run_made_good_each_on_one_line(tmp_path: Path) -> None:
    root = _minimal(tmp_path)
    pipeline = root / "pipelines/hello/pipeline.yaml"
    missing = "data/" + "sales_exported_by_the_shop_every_night_" * 4 + ".csv"  # an error longer than 200 columns
    _edit(pipeline, "path: data/sales.csv", f"path: {missing}")
    assert run_flowdeck("run", "hello", project=root).returncode == 1
    status = run_flowdeck("status", project=root)
    lines = status.stdout.splitlines()
    assert "last errors:" in lines, status
    error_lines = [line for line in lines if missing in line]
    assert len(error_lines) == 1 and error_lines[0].endswith("does not exist"), status  # piped: never wrapped
    assert len(error_lines[0]) > 200
    # the failure is made good by resuming it: no longer an error to show
    _edit(pipeline, f"path: {missing}", "path: data/sales.csv")
    assert run_flowdeck("run", "--resume", "last", project=root).returncode == 0
    status = run_flowdeck("status", project=root)
    assert "last errors:" not in status.stdout, status
    assert run_flowdeck("status", "--json", project=root).json()["last_errors"] == []
    # a later failure stands again, until a later run succeeds
    assert run_flowdeck("run", "hello", "--param", "min_amount=100000", project=root).returncode == 1
    standing = run_flowdeck("status", "--json", project=root).json()["last_errors"]
    assert [error["pipeline"] for error in standing] == ["hello"] and "row_count" in standing[0]["error"]
    assert run_flowdeck("run", "hello", project=root).returncode == 0
    assert run_flowdeck("status", "--json", project=root).json()["last_errors"] == []


def _no_secret_store(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in clean_env(**NO_KEYRING).items()
           if key not in ("FLOWDECK_MASTER_KEY", "CREDENTIALS_DIRECTORY")}
    return {**env, "HOME": str(tmp_path / "home")}


def _said_once(output: str) -> None:
    """The error and its hint, each once, each from the start of a line; no prompt, no traceback."""
    lines = output.splitlines()
    assert [line for line in lines if "error:" in line] == [
        "error: no keyring backend is available on this machine and FLOWDECK_MASTER_KEY is not set, so there is "
        "nowhere safe to keep secrets"], output
    assert sum(line.startswith("hint: ") for line in lines) == 1, output
    assert output.count("flowdeck secrets new-master-key") == 1 and output.count("plain text") == 1, output
    assert "value of" not in output and "Traceback" not in output, output


def test_secrets_set_with_nowhere_to_keep_a_secret_says_so_once_before_asking_for_it(tmp_path: Path) -> None:
    root = _minimal(tmp_path)
    env = _no_secret_store(tmp_path)
    terminal = Terminal([str(FLOWDECK), "--project", str(root), "secrets", "set", "HOOK_TOKEN"], env=env, cwd=root)
    assert terminal.wait() == 2
    _said_once(terminal.text)
    piped = subprocess.run([str(FLOWDECK), "--project", str(root), "secrets", "set", "HOOK_TOKEN"], input="s3cret\n",
                           capture_output=True, text=True, env=env, timeout=60)
    assert piped.returncode == 2 and piped.stdout == ""
    _said_once(piped.stderr)
    assert not (root / ".flowdeck" / "secrets.enc").exists()


def test_secrets_set_on_a_terminal_asks_twice_without_echo_and_ctrl_d_stores_nothing(tmp_path: Path) -> None:
    root = _minimal(tmp_path)
    env = {**_no_secret_store(tmp_path), "FLOWDECK_MASTER_KEY": MASTER_KEY}
    command = [str(FLOWDECK), "--project", str(root), "secrets", "set", "HOOK_TOKEN"]
    terminal = Terminal(command, env=env, cwd=root)
    terminal.expect("value of HOOK_TOKEN (not shown): ")
    terminal.type("s3cret-typed")
    terminal.expect("again: ")
    terminal.type("s3cret-typed")
    assert terminal.wait() == 0, terminal.text
    assert "s3cret-typed" not in terminal.text and "stored secret HOOK_TOKEN in the encrypted file keyring" in terminal.text
    listed = run_flowdeck("secrets", "list", project=root, env=env)
    assert listed.stdout.split() == ["HOOK_TOKEN"], listed
    ended = Terminal(command[:-1] + ["OTHER"], env=env, cwd=root)
    ended.expect("value of OTHER (not shown): ")
    os.write(ended.fd, b"\x04")  # Ctrl-D: no value
    assert ended.wait() == 2
    assert "error: no value given for OTHER; nothing was stored" in ended.text and "Traceback" not in ended.text
    assert run_flowdeck("secrets", "list", project=root, env=env).stdout.split() == ["HOOK_TOKEN"]
