"""The file layout of docs/security.md works for real OS users: a service user, an admin and an operator
in one group write the runtime folder, a viewer outside it only reads; refusals exit 3, never a traceback,
a secret an admin stores is read by the service user, and nothing changes that could not be audited.

The users and the group are created for this module and removed after it (root only, as in CI).
"""

from __future__ import annotations

import os
import shutil
import json
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import copy_example_project

MASTER_KEY = "test-master-key-7f3a9c1e5b2d8f40"


@dataclass
class Layout:
    """The project, the people, and how to run flowdeck as one of them."""

    project: Path
    group: str
    service: str
    admin: str
    operator: str
    viewer: str
    python: str
    pythonpath: str

    def flowdeck(self, user: str, *args: str, key: bool = False, input: str = "") -> subprocess.CompletedProcess[str]:
        """The CLI as ``user`` (a fresh environment: what that user's login would have), on the project."""
        environment = ["HOME=/tmp", "PATH=/usr/bin:/bin", f"PYTHONPATH={self.pythonpath}", "NO_COLOR=1", "COLUMNS=200",
                       *([f"FLOWDECK_MASTER_KEY={MASTER_KEY}"] if key else [])]
        return subprocess.run(["runuser", "-u", user, "--", "env", "-i", *environment, self.python, "-m",
                               "flowdeck.console.cli.main", "--project", str(self.project), *args],
                              cwd=self.project, input=input, capture_output=True, text=True, timeout=180)


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "state", "console", "themes")  # installed as flowdeck.<folder> (setup.py)


def _link_or_copy(source: str, target: str) -> None:
    """A hard link (the file's own mode decides who reads it, not the folders above the original),
    or a copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _reachable_tree(source: Path, target: Path) -> None:
    """``source`` again under ``target``, reachable by other users whatever folders ``source`` sits in."""
    shutil.copytree(source, target, copy_function=_link_or_copy, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "__editable__*", "pyspark"))


def _interpreter(user: str, scratch: Path) -> tuple[str, str]:
    """A Python ``user`` may run with flowdeck importable: this one, or the system's of the same version
    reading this checkout and this environment's packages linked under ``scratch`` (when they live in a
    folder only root may enter, as a checkout under /root or in a `mktemp -d` folder does)."""
    probe = ["runuser", "-u", user, "--", "env", "-i", "PATH=/usr/bin:/bin"]
    if subprocess.run([*probe, sys.executable, "-c", "import flowdeck.engine"], capture_output=True).returncode == 0:
        return sys.executable, ""
    system = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/bin:/usr/local/bin")
    if system is None:
        pytest.skip(f"no Python {sys.version_info.major}.{sys.version_info.minor} that another user may run")
    source = scratch / "src"
    for package in PACKAGES:
        _reachable_tree(REPO_ROOT / package, source / "flowdeck" / package)
    _reachable_tree(Path(sysconfig.get_paths()["purelib"]), scratch / "packages")
    site = scratch / "site"
    site.mkdir(mode=0o755)
    (site / "sitecustomize.py").write_text(f"import site\nsite.addsitedir({str(scratch / 'packages')!r})\n")
    os.chmod(site / "sitecustomize.py", 0o644)
    for folder in (scratch, source, source / "flowdeck", scratch / "packages"):
        os.chmod(folder, 0o755)
    pythonpath = f"{source}:{site}"
    check = subprocess.run([*probe, f"PYTHONPATH={pythonpath}", system, "-c", "import flowdeck.engine, duckdb"],
                           capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip(f"another user cannot import flowdeck here: {check.stderr.strip()[-300:]}")
    return system, pythonpath


@pytest.fixture(scope="module")
def layout() -> Iterator[Layout]:
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"):
        pytest.skip("creating OS users needs root with useradd and runuser (as in CI)")
    tag = uuid.uuid4().hex[:6]
    names = {role: f"fd{role[:3]}{tag}" for role in ("service", "admin", "operator", "viewer")}
    group = f"fdetl{tag}"
    scratch = Path(tempfile.mkdtemp(prefix="flowdeck-layout-", dir="/tmp"))
    os.chmod(scratch, 0o755)  # pytest's own temporary folders are root's only
    created: list[str] = []
    try:
        _run("groupadd", group)
        for role, name in names.items():
            _run("useradd", "--no-create-home", "--shell", "/bin/sh",
                 *(["--gid", group] if role != "viewer" else ["--no-user-group", "--gid", "users"]), name)
            created.append(name)
        python, pythonpath = _interpreter(names["viewer"], scratch)
        project = copy_example_project(scratch / "project")
        with open(project / "flowdeck.yaml", "a") as config:
            config.write(f"roles:\n  admins: [{names['admin']}]\n  operators: ['@{group}']\n  viewers: ['*']\n")
        _secret_pipeline(project)
        # the layout of docs/security.md, "File permissions"
        _run("chown", "-R", f"{names['admin']}:{group}", str(project))
        _run("find", str(project), "-type", "d", "-exec", "chmod", "2755", "{}", "+")
        _run("find", str(project), "-type", "f", "-exec", "chmod", "644", "{}", "+")
        for shared in (".flowdeck", "exports"):
            (project / shared).mkdir()
            _run("chown", f"{names['service']}:{group}", str(project / shared))
            _run("chmod", "2775", str(project / shared))
        yield Layout(project=project, group=group, python=python, pythonpath=pythonpath, **names)
    finally:
        for name in created:
            subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", group], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


def _secret_pipeline(project: Path) -> None:
    folder = project / "pipelines" / "uses_secret"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text("params:\n  password:\n    type: string\n    default: ${secret:PG_PASSWORD}\n"
                                          "steps:\n  - name: secret_length\n    kind: transform\n    sql: q.sql\n")
    (folder / "q.sql").write_text("SELECT length($password) AS n\n")


def _ok(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout + result.stderr


def test_the_service_user_and_an_operator_both_run_pipelines(layout: Layout) -> None:
    _ok(layout.flowdeck(layout.service, "run", "daily_sales"))
    _ok(layout.flowdeck(layout.operator, "run", "daily_sales"))  # its ledger, warehouse, tmp and exports
    _ok(layout.flowdeck(layout.service, "run", "daily_sales"))  # and the service user again after the operator
    runs = _ok(layout.flowdeck(layout.admin, "audit", "--limit", "10"))
    assert runs.count(" run ") >= 3 and layout.operator in runs


def test_a_viewer_reads_and_is_refused_with_exit_3(layout: Layout) -> None:
    _ok(layout.flowdeck(layout.service, "run", "daily_sales"))
    assert not (layout.project / ".flowdeck" / "ledger.sqlite-shm").exists()  # no writer holds it open now
    refused = _ok(layout.flowdeck(layout.viewer, "run", "daily_sales"), code=3)
    assert f"{layout.viewer} is a viewer in this project" in refused
    assert "daily_sales" in _ok(layout.flowdeck(layout.viewer, "runs"))
    assert "1582" in _ok(layout.flowdeck(layout.viewer, "query", "SELECT count(*) FROM daily_sales"))


def test_a_secret_an_admin_stores_is_read_by_the_service_user(layout: Layout) -> None:
    _ok(layout.flowdeck(layout.admin, "secrets", "set", "PG_PASSWORD", key=True, input="pg-secret-7d1e0c9b4a"))
    _ok(layout.flowdeck(layout.service, "run", "uses_secret", key=True))
    rows = _ok(layout.flowdeck(layout.viewer, "query", "SELECT n FROM secret_length", "--json"))
    assert '"n": 20' in rows
    audit = _ok(layout.flowdeck(layout.admin, "audit", "--action", "secret.set"))
    assert layout.admin in audit and "ok" in audit


def test_nothing_changes_that_could_not_be_audited(layout: Layout) -> None:
    _ok(layout.flowdeck(layout.service, "run", "daily_sales"))
    ledger = layout.project / ".flowdeck" / "ledger.sqlite"
    os.chmod(ledger, 0o444)  # a ledger this admin cannot write (whoever of them created it)
    try:
        result = layout.flowdeck(layout.admin, "secrets", "set", "OTHER_SECRET", key=True, input="other-secret-5c2f9a")
        out = _ok(result, code=2)
        assert "cannot write the ledger" in out and "nothing was changed" in out
        listed = _ok(layout.flowdeck(layout.service, "secrets", "list", key=True))
        assert "OTHER_SECRET" not in listed
    finally:
        for path in (ledger, ledger.with_name("ledger.sqlite-wal"), ledger.with_name("ledger.sqlite-shm")):
            if path.exists():  # SQLite gave the -wal and -shm a read-only opener made the ledger's mode
                os.chmod(path, 0o664)


def test_a_viewers_refusal_is_audited_by_the_service_user(layout: Layout) -> None:
    _ok(layout.flowdeck(layout.service, "run", "daily_sales"))  # the service user prepares the refusals folder
    refusals = layout.project / ".flowdeck" / "refusals"
    assert refusals.stat().st_mode & 0o7777 == 0o1733
    refused = _ok(layout.flowdeck(layout.viewer, "run", "ingest_orders"), code=3)
    assert "not audited" not in refused
    # a link planted to make the service user copy a file it may read into the audit log
    subprocess.run(["runuser", "-u", layout.viewer, "--", "ln", "-s", "/etc/shadow", str(refusals / "0-planted.json")],
                   check=True)
    _ok(layout.flowdeck(layout.service, "runs"))  # any command of the service user folds them in
    assert list(refusals.iterdir()) == []
    audit = _ok(layout.flowdeck(layout.admin, "audit", "--action", "run", "--json"))
    denied = [entry for entry in json.loads(audit) if entry["outcome"] == "denied"]
    pairs = [(entry["actor"], entry["target"]) for entry in denied]
    assert (layout.viewer, "ingest_orders") in pairs and {actor for actor, _ in pairs} == {layout.viewer}, denied
    assert all(entry["details"]["recorded"] == "later, from the refusals folder" for entry in denied)
    assert "root:" not in audit
