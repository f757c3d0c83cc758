"""Where a newcomer stumbled in their first hour with the CLI (issue 21), each driven as they met it:
the real `flowdeck` in a subprocess, on a project made by `flowdeck init`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import FLOWDECK, REPO_ROOT, clean_env, run_flowdeck
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


def _one_step_pipeline(root: Path) -> None:
    (root / "pipelines/single").mkdir()
    (root / "pipelines/single/pipeline.yaml").write_text(
        "steps:\n  - name: only_sales\n    kind: extract\n    source: {path: data/sales.csv}\n")


def test_counts_agree_with_their_nouns(tmp_path: Path) -> None:
    root = _minimal(tmp_path)
    _one_step_pipeline(root)
    validated = run_flowdeck("validate", project=root)
    assert validated.stdout.splitlines() == ["✓ hello (3 steps)", "✓ single (1 step)"], validated
    assert run_flowdeck("graph", "single", project=root).stdout.splitlines()[0] == "single — 1 step"
    assert run_flowdeck("run", "single", project=root).returncode == 0
    assert run_flowdeck("query", "SELECT 1 AS one", project=root).stderr.strip() == "1 row"
    (root / "pipelines/broken").mkdir()
    (root / "pipelines/broken/pipeline.yaml").write_text("steps:\n  - name: x\n    kind: extrct\n")
    invalid = run_flowdeck("validate", project=root)
    assert invalid.returncode == 2 and invalid.stderr.splitlines()[-1] == "1 of 3 pipelines is invalid", invalid


def test_a_refusal_says_an_operator_and_a_dry_run_of_prune_needs_no_admin(tmp_path: Path) -> None:
    from flowdeck.engine.governance.roles import Identity

    me = Identity.current().user
    root = _minimal(tmp_path)
    config = root / "flowdeck.yaml"
    config.write_text(config.read_text() + f"\nroles:\n  operators: [{me}]\n")
    refused = run_flowdeck("secrets", "set", "X", "--generate", project=root)
    assert refused.returncode == 3
    assert f"error: {me} is an operator in this project; changing secrets (X) needs the admin role" in refused.stderr
    assert run_flowdeck("prune", "--dry-run", project=root).returncode == 0
    config.write_text(config.read_text().replace(f"operators: [{me}]", f"viewers: [{me}]"))
    dry = run_flowdeck("prune", "--dry-run", "--json", project=root)  # changes nothing: any role may ask
    assert dry.returncode == 0 and dry.json()["dry_run"] is True, dry
    real = run_flowdeck("prune", project=root)
    assert real.returncode == 3 and f"{me} is a viewer in this project; pruning the ledger" in real.stderr, real


def test_help_shows_no_type_beside_a_flag() -> None:
    for command in (["--help"], ["run", "--help"], ["alerts", "--help"]):
        shown = run_flowdeck(*command)
        assert shown.returncode == 0 and "<bool>" not in shown.stdout, shown
    top = run_flowdeck("--help").stdout
    version = next(line for line in top.splitlines() if "--version" in line)
    assert version.split("--version", 1)[1].split() [:3] == ["Print", "the", "version"], version
    assert "--project  -p      DIR" in top


def test_logs_follow_exits_with_the_outcome_of_the_run(tmp_path: Path) -> None:
    root = _minimal(tmp_path)
    assert run_flowdeck("run", "hello", project=root).returncode == 0
    assert run_flowdeck("logs", "last", "--follow", project=root).returncode == 0
    assert run_flowdeck("run", "hello", "--param", "min_amount=100000", project=root).returncode == 1
    followed = run_flowdeck("logs", "last", "--follow", project=root)
    assert followed.returncode == 1 and "run failed" in followed.stdout, followed
    assert run_flowdeck("logs", "last", project=root).returncode == 0  # without --follow it only prints


def test_validate_and_graph_speak_json(tmp_path: Path) -> None:
    root = _minimal(tmp_path)
    _one_step_pipeline(root)
    verdicts = run_flowdeck("validate", "--json", project=root)
    assert verdicts.returncode == 0
    assert [(v["pipeline"], v["valid"], v["steps"], v["problems"]) for v in verdicts.json()] == [
        ("hello", True, 3, []), ("single", True, 1, [])]
    _edit(root / "pipelines/single/pipeline.yaml", "kind: extract", "kind: extrct")
    invalid = run_flowdeck("validate", "--json", project=root)
    assert invalid.returncode == 2 and invalid.stderr == ""
    single = next(v for v in invalid.json() if v["pipeline"] == "single")
    assert single["valid"] is False and single["problems"] == [{
        "message": "unknown step kind `extrct`; expected one of extract, transform, check, load, python",
        "file": str(root / "pipelines/single/pipeline.yaml"), "line": 3, "column": 11, "key": "steps[0].kind",
        "hint": "did you mean `extract`?"}]
    graph = run_flowdeck("graph", "hello", "--json", project=root).json()
    assert graph == {"pipeline": "hello", "after": [], "followed_by": [], "steps": [
        {"name": "raw_sales", "kind": "extract", "level": 1, "output": "raw_sales", "upstream": []},
        {"name": "sales_by_city", "kind": "transform", "level": 2, "output": "sales_by_city", "upstream": ["raw_sales"]},
        {"name": "export_sales_by_city", "kind": "load", "level": 3, "output": None, "upstream": ["sales_by_city"]}]}


def test_an_abandoned_run_the_daemon_resumes_reuses_the_steps_it_finished(tmp_path: Path) -> None:
    """docs/daemon.md: with `on_abandoned: resume`, the new run continues where the abandoned one stopped."""
    from flowdeck.engine.daemon.workers import resume_abandoned
    from flowdeck.engine.workspace import Workspace

    root = _minimal(tmp_path)
    (root / "pipelines/hello/pipeline.yaml").write_text(
        (root / "pipelines/hello/pipeline.yaml").read_text() + "\non_abandoned: resume\n")
    # the run's process dies while writing the export, its first two steps done
    killed = run_flowdeck("run", "hello", project=root,
                          env=clean_env(FLOWDECK_DEBUG_CRASH_AT="exporting:export_sales_by_city"))
    assert killed.returncode == -9, killed
    workspace = Workspace.open(root, source="daemon")
    try:
        # what the daemon does at start and every 30 s: notice the dead process, then resume its run
        workspace.reap_orphans()
        abandoned = workspace.ledger.list_runs(status="abandoned")[0]
        queued = resume_abandoned(workspace.project, workspace.ledger, workspace.resume, set())
        assert len(queued) == 1
        assert workspace.execute(queued[0]) == "succeeded"
        steps = {step.step: step for step in workspace.ledger.steps_of(queued[0])}
    finally:
        workspace.close()
    assert steps["raw_sales"].reused_from == abandoned.run_id and steps["sales_by_city"].reused_from == abandoned.run_id
    assert steps["export_sales_by_city"].reused_from is None and steps["export_sales_by_city"].status == "succeeded"


def test_make_demo_prints_a_few_lines_a_newcomer_reads(tmp_path: Path) -> None:
    """README's first command, from a fresh checkout: one line for the set-up, the run, and what next.

    The set-up's own work (venv, pip) is stood in for by a `python3` that makes a .venv whose
    flowdeck is this one: what is tested is what the Makefile itself prints around it.
    """
    import shutil

    checkout = tmp_path / "flowdeck"
    checkout.mkdir()
    for part in ("Makefile", "pyproject.toml", "constraints.txt", "setup.py", "flowdeck.yaml", "pipelines",
                 "data/sample", "landing"):
        source, target = REPO_ROOT / part, checkout / part
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    python = tmp_path / "python3"
    python.write_text(f"""#!/bin/sh
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && printf '#!/bin/sh\\nexit 0\\n' > "$3/bin/python" && chmod +x "$3/bin/python"
  ln -s {FLOWDECK} "$3/bin/flowdeck"
fi
""")
    python.chmod(0o755)
    demo = subprocess.run(["make", "demo", f"PYTHON={python}"], cwd=checkout, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=clean_env(), stdin=subprocess.DEVNULL, timeout=300)
    assert demo.returncode == 0, demo.stdout
    lines = demo.stdout.splitlines()  # as a terminal shows both streams, in order
    assert lines[0].startswith("setting up .venv with flowdeck"), lines  # pip's own output goes to .venv/setup.log
    assert lines[1].startswith("run ") and lines[1].endswith(" of daily_sales"), lines
    assert lines[-2].startswith("✓ succeeded  run ") and lines[-2].split()[-3:-1] == ["daily_sales", "in"], lines
    assert lines[-1] == "next: .venv/bin/flowdeck console (the operator console; README.md lists more to try)"
    assert len(lines) <= 15, lines  # the run's steps, no echoed recipes, no build noise
    echoed = ("pip install", "-m venv", "touch ", "bin/flowdeck run")  # a recipe make shows before running it
    assert not [line for line in lines if any(recipe in line for recipe in echoed)], lines
    again = subprocess.run(["make", "demo", f"PYTHON={python}"], cwd=checkout, capture_output=True, text=True,
                           env=clean_env(), stdin=subprocess.DEVNULL, timeout=300)
    assert again.returncode == 0 and not again.stdout.startswith("setting up"), again  # set up once
