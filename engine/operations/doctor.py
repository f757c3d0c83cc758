"""`flowdeck doctor`: checks of the installation and the project, each with a status and a fix.

Every check looks without changing anything: folders are probed by writing (and removing) a
file in them, or in the nearest folder that exists when they do not yet; the ledger's schema
version is read from the file, not migrated; the warehouse is opened read-only. Tests run as
root, where permission bits do not stop a write, so "can it be written" is always answered
by trying, never by reading mode bits.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.governance import roles

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project

Status = Literal["ok", "warn", "fail", "skip"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "fail", "skip")
MIN_PYTHON = (3, 11)
# the packages a report names: (distribution, why it matters, optional)
PACKAGES = (
    ("flowdeck", "this tool", False),
    ("duckdb", "runs every step", False),
    ("sqlglot", "reads the SQL: dependencies, lineage, rewrites", False),
    ("textual", "the operator console", False),
    ("pyspark", "the Spark backend", True),
)


@dataclass(frozen=True)
class DoctorFinding:
    """The outcome of one check: what was looked at, how it went, and what to do about it."""

    check: str
    status: Status
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``flowdeck doctor --json``)."""
        return {"check": self.check, "status": self.status, "detail": self.detail, "fix": self.fix}


def diagnose(project_dir: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None,
             stdout_is_terminal: bool | None = None) -> list[DoctorFinding]:
    """Run every check; the project ones only when a project is found (and it is said when not)."""
    from flowdeck.engine.project.project import Project

    environ = os.environ if environ is None else environ
    findings = [check_python(), *check_packages(), check_terminal(environ, stdout_is_terminal), *check_plugins()]
    try:
        project = Project.load(project_dir)
    except FlowdeckError as error:
        findings.append(_project_not_loaded(error))
        return findings
    findings.append(check_keyring(project))
    findings.extend(check_paths(project))
    ledger = check_ledger(project)
    findings.append(ledger)
    findings.append(check_warehouse(project))
    findings.append(check_daemon(project, ledger_usable=ledger.status == "ok"))
    findings.extend(check_connections(project))
    findings.append(check_spark(project, environ))
    findings.append(check_pipelines(project))
    return findings


def check_plugins() -> Iterator[DoctorFinding]:
    """One finding a plugin installed: it loads (ok) or why it does not (fail: a config using it cannot run)."""
    from flowdeck.engine.plugins.inventory import installed_plugins  # reads every package's metadata

    for info in installed_plugins():
        origin = f"{info.distribution} {info.version}" if info.distribution else info.target
        if info.ok:
            yield DoctorFinding(f"plugin {info.name}", "ok", f"{info.group}: {origin}")
        else:
            yield DoctorFinding(f"plugin {info.name}", "fail", f"{info.group}: {origin} is broken: {info.error}",
                                f"fix or uninstall the package: pip uninstall {info.distribution or info.target}")


def worst(findings: list[DoctorFinding]) -> Status:
    """The most serious status found (``fail`` > ``warn`` > ``ok``)."""
    statuses = {finding.status for finding in findings}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok"


# -- the installation --------------------------------------------------------------------------------------


def check_python(version: tuple[int, ...] | None = None) -> DoctorFinding:
    """Python is new enough."""
    version = tuple(sys.version_info[:3]) if version is None else version
    shown = ".".join(str(part) for part in version)
    if version[:2] < MIN_PYTHON:
        needed = ".".join(str(part) for part in MIN_PYTHON)
        return DoctorFinding("python", "fail", f"Python {shown}; flowdeck needs {needed} or newer",
                             f"install Python {needed}+ and reinstall flowdeck in a virtual environment made with it")
    return DoctorFinding("python", "ok", f"Python {shown} ({sys.executable})")


def pinned_versions() -> dict[str, str]:
    """The exact versions flowdeck pins its dependencies to (``name==version`` in its metadata)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        requirements = requires("flowdeck") or []
    except PackageNotFoundError:
        return {}
    pins: dict[str, str] = {}
    for requirement in requirements:
        if ";" in requirement and "extra" in requirement.split(";", 1)[1]:
            continue  # optional extras (dev tools) are not part of an installation
        spec = requirement.split(";", 1)[0].strip()
        if "==" in spec:
            name, version = spec.split("==", 1)
            pins[name.split("[", 1)[0].strip().lower()] = version.strip()
    return pins


def check_packages(installed: Callable[[str], str | None] | None = None,
                   pins: dict[str, str] | None = None) -> Iterator[DoctorFinding]:
    """Each key library is installed, at the version flowdeck pins (another one works, maybe not the same)."""
    installed = installed or _installed_version
    pins = pinned_versions() if pins is None else pins
    for name, role, optional in PACKAGES:
        version = installed(name)
        if version is None:
            if optional:
                yield DoctorFinding(name, "skip", f"not installed (only needed for {role})",
                                    f"to use it: pip install {name}" + (f"=={pins[name]}" if name in pins else ""))
            else:
                yield DoctorFinding(name, "fail", f"not installed ({role})", "reinstall flowdeck: pip install flowdeck")
            continue
        wanted = pins.get(name)
        if wanted and version != wanted:
            yield DoctorFinding(name, "warn", f"{version} installed; flowdeck is tested with {wanted} ({role})",
                                f"pip install '{name}=={wanted}' (or reinstall with constraints.txt)")
        else:
            yield DoctorFinding(name, "ok", f"{version} ({role})")


def _installed_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def check_terminal(environ: Mapping[str, str], stdout_is_terminal: bool | None = None) -> DoctorFinding:
    """What colours this terminal gets: NO_COLOR, TERM, COLORTERM (the console works in every case)."""
    terminal = sys.stdout.isatty() if stdout_is_terminal is None else stdout_is_terminal
    term, colorterm = environ.get("TERM", ""), environ.get("COLORTERM", "")
    shown = f"TERM={term or '(unset)'} COLORTERM={colorterm or '(unset)'}"
    if "NO_COLOR" in environ:
        return DoctorFinding("terminal", "ok",
                             f"NO_COLOR is set: no colours; status shows as words and symbols ({shown})")
    if not terminal:
        return DoctorFinding("terminal", "ok", f"output is not a terminal (piped): no colours ({shown})")
    if term in ("", "dumb"):
        return DoctorFinding("terminal", "warn", f"{shown}: the console cannot tell what this terminal can draw",
                             "export TERM=xterm-256color (or what your terminal emulator is), e.g. in ~/.profile")
    if colorterm.lower() in ("truecolor", "24bit"):
        depth = "truecolor (16 million colours)"
    elif "256" in term:
        depth = "256 colours"
    else:
        return DoctorFinding("terminal", "ok", f"{shown}: 16 colours; themes fall back to the ansi palette",
                             "for richer themes: export COLORTERM=truecolor if your terminal supports it")
    return DoctorFinding("terminal", "ok", f"{shown}: {depth}")


# -- the project -------------------------------------------------------------------------------------------


def _project_not_loaded(error: FlowdeckError) -> DoctorFinding:
    from flowdeck.engine.errors import ProjectNotFound

    if isinstance(error, ProjectNotFound):
        return DoctorFinding("project", "warn", f"no project checked: {error.what}",
                             error.hint or "run inside a project, or pass --project DIR")
    return DoctorFinding("project", "fail", f"flowdeck.yaml is not valid: {error.render()}",
                         "fix flowdeck.yaml at the line shown (`flowdeck validate` reports every problem)")


def check_keyring(project: Project) -> DoctorFinding:
    """Where `flowdeck secrets set` would keep secrets: the OS keyring, else the encrypted file keyring."""
    from flowdeck.engine.secrets.filekeyring import SecretsError
    from flowdeck.engine.secrets.store import MASTER_KEY_ENV, master_key, os_keyring, secrets_file

    backend = os_keyring()
    if backend is not None:
        return DoctorFinding("keyring", "ok", f"OS keyring: {type(backend).__module__}.{type(backend).__name__}")
    try:
        key = master_key()
    except SecretsError as error:
        return DoctorFinding("keyring", "fail", error.what, error.hint)
    if key is not None:
        return DoctorFinding("keyring", "ok",
                             f"encrypted file keyring {secrets_file(project)} ({MASTER_KEY_ENV} is set)")
    return DoctorFinding("keyring", "warn",
                         f"no OS keyring backend and {MASTER_KEY_ENV} is not set: `flowdeck secrets set` has nowhere "
                         "safe to keep a secret (${env:NAME} references still work)",
                         f'export {MASTER_KEY_ENV}="$(flowdeck secrets new-master-key)" (keep a copy somewhere safe), '
                         "or install and unlock an OS keyring (python -m keyring --list-backends)")


def runtime_paths(project: Project) -> dict[str, Path]:
    """The folders flowdeck writes at run time, by what they hold."""
    return {"runtime": project.runtime_dir, "logs": project.logs_dir, "warehouse": project.warehouse_path.parent,
            "tmp": project.temp_dir}


def check_paths(project: Project) -> Iterator[DoctorFinding]:
    """Each runtime folder can be written (or created)."""
    from flowdeck.state.space import MIN_FREE_BYTES, free_bytes, size_text

    for label, path in runtime_paths(project).items():
        problem = writable_problem(path)
        check = f"path {label}"
        if problem is not None:
            yield DoctorFinding(check, "fail", problem, _path_fix(path))
            continue
        state = "writable" if path.is_dir() else "can be created"
        free = free_bytes(path)
        if free is not None and free < MIN_FREE_BYTES:  # writable, yet nothing fits: every command would fail
            yield DoctorFinding(check, "fail", f"{path} {state}, but its disk has only {size_text(free)} free; "
                                f"flowdeck needs at least {size_text(MIN_FREE_BYTES)} there",
                                "free space on that disk (old worker logs are in the logs folder; `flowdeck prune` "
                                "needs some space itself), or point runtime_dir in flowdeck.yaml at another disk")
        else:
            yield DoctorFinding(check, "ok", f"{path} {state}" + (f", {size_text(free)} free" if free is not None else ""))


def writable_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be written or created (None when it can), found by trying."""
    probe_in = folder
    while not probe_in.exists():
        if probe_in.parent == probe_in:
            return f"cannot create {folder}: no existing folder above it"
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        return f"cannot create {folder}: {probe_in} is a file, not a folder"
    try:
        handle, name = tempfile.mkstemp(prefix=".flowdeck-doctor-", dir=probe_in)
        os.close(handle)
        os.unlink(name)
    except OSError as error:
        verb = "write to" if probe_in == folder else f"create {folder}: cannot write to"
        return f"cannot {verb} {probe_in}: {error.strerror or error}"
    return None


def _path_fix(path: Path) -> str:
    owner = _user()
    return (f"make it writable by {owner} (e.g. chown -R {owner} {path} or chmod u+w), remove what is in the way, "
            "or point runtime_dir in flowdeck.yaml at a writable folder")


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def check_ledger(project: Project) -> DoctorFinding:
    """The ledger's schema version matches this flowdeck's (no pending migrations, not from a newer flowdeck)."""
    from flowdeck.state import LedgerError, stored_schema_version
    from flowdeck.state.ledger import LedgerFull
    from flowdeck.state.schema import SCHEMA_VERSION

    path = project.ledger_path
    try:
        stored = stored_schema_version(path)
    except LedgerFull as error:
        return DoctorFinding("ledger", "fail", str(error),
                             "free space on that disk; nothing is wrong with the ledger itself (do not restore it)")
    except LedgerError as error:
        return DoctorFinding("ledger", "fail", str(error),
                             f"restore {path.name} from a backup (the daemon keeps none by itself), or move it aside "
                             "to start a new ledger (run history is lost)")
    if stored is None:
        return DoctorFinding("ledger", "ok", f"no ledger yet at {path} (the first command that needs it creates it)")
    if stored > SCHEMA_VERSION:
        return DoctorFinding("ledger", "fail",
                             f"{path} has schema version {stored}, newer than this flowdeck's {SCHEMA_VERSION}: "
                             "a newer flowdeck wrote it, this one cannot use it",
                             "upgrade flowdeck to the version that wrote it (pip install -U flowdeck), or restore "
                             f"the ledger backup made before that upgrade ({path.name}.v{SCHEMA_VERSION}.bak)")
    if stored < SCHEMA_VERSION:
        pending = SCHEMA_VERSION - stored
        return DoctorFinding("ledger", "warn",
                             f"{path} has schema version {stored}; "
                             f"{pending} migration{'s' if pending > 1 else ''} pending",
                             "they are applied by the next flowdeck command (a copy is kept as "
                             f"{path.name}.v{stored}.bak); stop the daemon first if an older flowdeck runs it")
    return DoctorFinding("ledger", "ok", f"{path}: schema version {stored} (current)")


def check_warehouse(project: Project) -> DoctorFinding:
    """The warehouse opens read-only; if another process holds it, that this is a live flowdeck process."""
    from flowdeck.engine.backends.duckdb.warehouse import open_warehouse
    from flowdeck.engine.errors import WarehouseBusy
    from flowdeck.engine.run.processes import pid_alive

    path = project.warehouse_path
    if not path.exists():
        return DoctorFinding("warehouse", "ok", f"no warehouse yet at {path} (the first run creates it)")
    try:
        connection = open_warehouse(project, read_only=True, timeout=0.05)
    except WarehouseBusy as busy:
        pid = busy.holder_pid
        return _held_warehouse(project, path, pid, pid is not None and pid_alive(pid))
    except FlowdeckError as error:
        return DoctorFinding("warehouse", "fail", f"cannot open {path}: {error.what}",
                             error.hint or "restore the warehouse from a backup; `flowdeck validate` and the ledger "
                             "are unaffected")
    try:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'").fetchone()
    finally:
        connection.close()
    return DoctorFinding("warehouse", "ok", f"{path} opens ({tables[0] if tables else 0} tables)")


def _held_warehouse(project: Project, path: Path, pid: int | None, alive: bool) -> DoctorFinding:
    if pid is None:
        return DoctorFinding("warehouse", "warn", f"{path} is held by another process", "wait for it, then check again")
    if not alive:
        return DoctorFinding("warehouse", "fail",
                             f"{path} is locked by process {pid}, which is not running on this machine (another "
                             "machine or container sharing the folder?)",
                             f"find and stop process {pid} where it runs; never delete the lock by hand")
    owner = _flowdeck_owner(project, pid)
    if owner:
        return DoctorFinding("warehouse", "ok", f"{path} is in use by {owner}; it opens when that ends")
    return DoctorFinding("warehouse", "warn",
                         f"{path} is held by process {pid}, which is not a flowdeck run or daemon of this project",
                         f"see what it is (ps -o pid,etime,cmd -p {pid}); if it is a stuck flowdeck query or console, "
                         f"stop it (kill {pid}); runs wait for it up to warehouse.lock_timeout")


def _flowdeck_owner(project: Project, pid: int) -> str | None:
    """Which run or daemon of this project a pid is, when the ledger can say."""
    from flowdeck.state import Ledger, LedgerError, stored_schema_version
    from flowdeck.state.schema import SCHEMA_VERSION
    from flowdeck.state.status import RunStatus

    try:
        if stored_schema_version(project.ledger_path) != SCHEMA_VERSION:
            return None
        with Ledger(project.ledger_path) as ledger:
            for run in ledger.runs_in_status(RunStatus.RUNNING):
                if run.owner_pid == pid:
                    return f"run {run.run_id} of {run.pipeline} (pid {pid})"
            lease = ledger.daemon_lease()
            if lease is not None and lease.pid == pid and lease.stopped_at is None:
                return f"the daemon (pid {pid})"
    except LedgerError:
        return None
    return None


def check_daemon(project: Project, *, ledger_usable: bool) -> DoctorFinding:
    """Whether the daemon runs, and whether anything needs it (schedules, file triggers)."""
    from flowdeck.engine.daemon.lease import read_daemon_state
    from flowdeck.state import Ledger, LedgerError

    needing = _pipelines_needing_daemon(project)
    if not project.ledger_path.exists():
        running, reason, where = False, "never started", ""
    elif not ledger_usable:
        return DoctorFinding("daemon", "skip", "not checked: the ledger needs attention first (see `ledger`)")
    else:
        try:
            with Ledger(project.ledger_path) as ledger:
                state = read_daemon_state(ledger)
        except LedgerError as error:
            return DoctorFinding("daemon", "skip", f"not checked: {error}")
        running, reason = state.running, state.reason
        lease = state.lease
        where = f", pid {lease.pid} on {lease.host}" + (f", http://{lease.http_address}" if lease.http_address else "") \
            if lease else ""
    if running:
        return DoctorFinding("daemon", "ok", f"running{where}")
    if needing:
        shown = ", ".join(needing[:5]) + (" …" if len(needing) > 5 else "")
        return DoctorFinding("daemon", "warn",
                             f"not running ({reason}), so nothing starts {shown} on its schedule or triggers",
                             "start it: `flowdeck daemon` (on a server, under systemd: see docs/daemon.md)")
    return DoctorFinding("daemon", "ok", f"not running ({reason}); no pipeline has a schedule or trigger")


def _pipelines_needing_daemon(project: Project) -> list[str]:
    needing = []
    for name in project.pipeline_names():
        try:
            config = project.pipeline(name).config
        except FlowdeckError:
            continue  # reported by the pipelines check
        if config.schedule is not None or config.triggers:
            needing.append(name)
    return needing


def check_connections(project: Project) -> Iterator[DoctorFinding]:
    """Each database connection answers (the same test as `flowdeck connections test`)."""
    connections = getattr(project.config, "connections", None)
    try:
        from flowdeck.engine.connectors.health import test_connection
    except ImportError:
        yield DoctorFinding("connections", "skip", "unavailable: this flowdeck has no database connectors")
        return
    if not connections:
        yield DoctorFinding("connections", "skip", "none declared in flowdeck.yaml")
        return
    identity = roles.Identity.current()
    role = roles.role_of(identity, project.config.roles)
    if not roles.allows(role, "run"):  # testing logs in with the connection's credentials: operators and admins
        yield DoctorFinding("connections", "skip", f"not tested: {identity.user} is {roles.with_article(role)}; "
                            "testing connections needs the operator role", "ask an operator to run `flowdeck doctor`")
        return
    for name in sorted(connections):
        try:
            report = test_connection(project, name)
        except FlowdeckError as error:
            yield DoctorFinding(f"connection {name}", "fail", error.what, error.hint)
            continue
        failure = report.first_failure()
        if failure is None:
            yield DoctorFinding(f"connection {name}", "ok", f"{report.type} at {report.where} answers "
                                f"({len(report.checks)} check{'s' if len(report.checks) != 1 else ''})")
        else:
            yield DoctorFinding(f"connection {name}", "fail", f"{report.where}: {failure.what}: {failure.message}",
                                failure.hint or f"see `flowdeck connections test {name}`")


MIN_JAVA = 17


def check_spark(project: Project, environ: Mapping[str, str],
                installed: Callable[[str], str | None] | None = None) -> DoctorFinding:
    """With `engine: spark`: pyspark is installed and, unless a Spark Connect server is used,
    Java 17+ is on PATH (flowdeck starts the Spark driver itself). Nothing is started."""
    config = project.config
    if config.engine != "spark":
        return DoctorFinding("spark", "skip", f"not the project's engine (engine: {config.engine}); docs/spark.md")
    if (installed or _installed_version)("pyspark") is None:
        return DoctorFinding("spark", "fail", "engine: spark, but pyspark is not installed",
                             "pip install 'flowdeck[spark]' (see docs/spark.md)")
    if config.spark.remote:
        return DoctorFinding("spark", "ok", f"runs on the Spark Connect server {config.spark.remote} (not contacted)")
    java = shutil.which("java", path=environ.get("PATH", ""))
    install = (f"install Java {MIN_JAVA} or newer (Debian: apt-get install openjdk-17-jre-headless), "
               "or set spark.remote to a Spark Connect server")
    if java is None:
        return DoctorFinding("spark", "fail", f"master {config.spark.master} starts Spark in flowdeck's process, "
                             "which needs Java, and there is no `java` on PATH", install)
    try:
        shown = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError) as error:
        return DoctorFinding("spark", "warn", f"{java} -version failed: {error}", install)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', shown)
    if found is None:
        return DoctorFinding("spark", "warn", f"cannot tell the version of {java}: {shown.strip()[:80]}", install)
    major = int(found[2]) if found[1] == "1" and found[2] else int(found[1])  # "1.8" is Java 8
    if major < MIN_JAVA:
        return DoctorFinding("spark", "fail", f"Java {major} at {java}; Spark 4 needs Java {MIN_JAVA} or newer",
                             install)
    return DoctorFinding("spark", "ok", f"master {config.spark.master}, Java {major} ({java})")


def check_pipelines(project: Project) -> DoctorFinding:
    """Every pipeline validates (YAML, SQL, DAG), as `flowdeck validate` checks them."""
    from flowdeck.engine.plan.planner import build_plan

    names = project.pipeline_names()
    bad: list[FlowdeckError] = []
    for name in names:
        try:
            build_plan(project, name)
        except FlowdeckError as error:
            bad.append(error)
    if not names:
        return DoctorFinding("pipelines", "warn", f"no pipelines yet in {project.pipelines_dir}",
                             "create one: `flowdeck new pipeline`")
    if bad:
        first = bad[0]
        where = f"{first.location}: " if first.location else ""
        key = f" (key {first.location.key})" if first.location is not None and first.location.key else ""
        return DoctorFinding("pipelines", "fail",
                             f"{len(bad)} of {len(names)} pipelines invalid; first: {where}{first.what}{key}",
                             (f"{first.hint}; " if first.hint else "") + "`flowdeck validate` lists every problem")
    return DoctorFinding("pipelines", "ok", f"{len(names)} pipeline{'s' if len(names) > 1 else ''} valid")
