"""flowdeck installed from its wheel, away from the checkout: what `pip install flowdeck` gives a user.

The wheel is built once for this module from the checkout's files (tracked and new, not ignored)
by the build backend pyproject.toml names, in an environment of its own, and installed with
constraints.txt into a fresh venv in a temporary folder outside the repository. The tests share
one xdist worker, so the wheel is built once. Everything then runs with the working directory
outside the repository and an environment of its own: the venv's bin/ on PATH, a private HOME,
no PYTHONPATH, nothing of the checkout's venv.

How "the installed package never reads the source checkout" is checked: the copy the wheel was
built from is deleted before anything runs, and every Python process of the venv logs the paths
it opens, lists, copies, connects to, spawns or imports from (tests/packaging/path_audit.py, a
PEP 578 audit hook the venv loads through a .pth file; its docstring says what it cannot see).
Each test asserts that no logged path is under the repository or the deleted copy, and that
the log does show the package's own files read from site-packages (so the hook was working).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, ledger_rows, warehouse_rows
from tests.firsthour.test_templates import EXPECTED
from tests.tmuxkit import Terminal

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]

THEMES = {"flowdeck-dark", "flowdeck-light", "ansi", "nord"}  # the files of themes/
FORBIDDEN_TOP_LEVEL = {"engine", "state", "console", "themes"}  # repository folders, installed only under flowdeck.
AUDIT = "_flowdeck_test_path_audit"  # the instrument's module and .pth names in the venv's site-packages
# The backend as a PEP 517 front end calls it; its own output is what is checked for warnings.
BUILD_WHEEL = """\
import importlib, sys
name, dist = sys.argv[1:]  # read first: setuptools' hooks replace sys.argv
backend = importlib.import_module(name)
missing = backend.get_requires_for_build_wheel()
assert not missing, f"the backend asks for more build requirements: {missing}"
print("built", backend.build_wheel(dist))
"""
LIST_THEMES = """\
import json
from flowdeck.console.tui.themes import BUILTIN_THEMES_DIR, load_themes
loaded = load_themes(BUILTIN_THEMES_DIR)
print(json.dumps({"folder": str(BUILTIN_THEMES_DIR), "themes": sorted(loaded.themes), "problems": loaded.problems}))
"""


@dataclass
class Installed:
    """The wheel, what building it printed, and the venv it is installed in."""

    wheel: Path
    build_output: str
    venv: Path
    site_packages: Path
    build_source: Path  # deleted once the wheel is built
    home: Path

    def env(self, log: Path) -> dict[str, str]:
        """The whole environment of an installed command: nothing inherited from the test's process."""
        return {"PATH": f"{self.venv / 'bin'}:/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8",
                "FLOWDECK_PATH_LOG": str(log)}

    def run(self, *args: str, cwd: Path, log: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command of the venv's bin/ (``flowdeck``, ``python``) in ``cwd``."""
        return subprocess.run([str(self.venv / "bin" / args[0]), *args[1:]], cwd=cwd, env=self.env(log),
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _under(path: str, root: Path) -> bool:
    return any(path == str(folder) or path.startswith(f"{folder}{os.sep}") for folder in {root, root.resolve()})


def _checkout_files() -> list[str]:
    """The checkout's files a build sees: tracked and new, without what .gitignore leaves out."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            check=True, capture_output=True).stdout.decode()
    return sorted(name for name in listed.split("\0") if name and (REPO_ROOT / name).is_file())


def _pip_install(python: Path, *requirements: str) -> None:
    """Install into the venv of ``python`` with this venv's pip (a venv made --without-pip needs none)."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", *requirements],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, f"pip install {' '.join(requirements)} failed:\n{done.stdout}{done.stderr}"


def _fresh_venv(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, capture_output=True)
    return folder / "bin" / "python"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built from the checkout and installed into a fresh venv outside it."""
    work = tmp_path_factory.mktemp("wheel")
    assert not _under(str(work.resolve()), REPO_ROOT), f"the test needs a temporary folder outside {REPO_ROOT}"

    # Built from a copy: setuptools writes build/ and *.egg-info into the folder it builds, and a
    # build/lib/ left by an earlier build still holds modules deleted since, which would ship.
    source = work / "source"
    for name in _checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, source / name)
    build_system = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]
    builder = _fresh_venv(work / "build-env")
    _pip_install(builder, *build_system["requires"])
    dist = work / "dist"
    dist.mkdir()
    # PYTHONDONTWRITEBYTECODE (set on some machines) makes setuptools print "warning: byte-compiling
    # is disabled", a note about that environment, not about the package: built without it.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    built = subprocess.run([str(builder), "-c", BUILD_WHEEL, build_system["build-backend"], str(dist)], cwd=source,
                           env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("flowdeck-*.whl")
    shutil.rmtree(source)  # from here on, nothing the wheel was built from exists

    python = _fresh_venv(work / "venv")
    _pip_install(python, "-c", str(REPO_ROOT / "constraints.txt"), str(wheel))
    (site_packages,) = (work / "venv" / "lib").glob("python3*/site-packages")
    home = work / "home"
    home.mkdir()
    return Installed(wheel, built.stdout + built.stderr, work / "venv", site_packages, source, home)


@pytest.fixture
def audited(installed: Installed, tmp_path: Path) -> Path:
    """A folder the venv's processes log the paths they touch into, for this test (see the module's docstring)."""
    audit = Path(__file__).with_name("path_audit.py")
    if not (installed.site_packages / f"{AUDIT}.py").exists():
        shutil.copy2(audit, installed.site_packages / f"{AUDIT}.py")
        (installed.site_packages / f"{AUDIT}.pth").write_text(f"import {AUDIT}\n")
    log = tmp_path / "paths"
    log.mkdir()
    return log


def _logged(log: Path) -> list[tuple[str, str]]:
    entries: list[tuple[str, str]] = []
    for file in sorted(log.glob("*.log")):
        for line in file.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
            kind, _, path = line.partition(" ")
            entries.append((kind, path))
    return entries


def _row(first_word: str, screen: str) -> bool:
    """A line of the screen starts with ``first_word`` (a row of a list)."""
    return any(line.split()[:1] == [first_word] for line in screen.splitlines())


def assert_nothing_read_from_the_checkout(installed: Installed, log: Path, *, own_files: tuple[str, ...]) -> None:
    """No process touched a path under the repository or the deleted build copy; each of
    ``own_files`` (paths inside the installed flowdeck package) was opened from site-packages."""
    entries = _logged(log)
    assert entries, "the venv's processes logged nothing: the path audit did not load"
    touched = [f"{kind} {path}" for kind, path in entries
               if _under(path, REPO_ROOT) or _under(path, installed.build_source)]
    assert not touched, "the installed package touched the source checkout:\n" + "\n".join(sorted(set(touched))[:40])
    package = installed.site_packages / "flowdeck"
    opened = {path for kind, path in entries if kind == "open"}
    for own in own_files:
        assert str(package / own) in opened, f"flowdeck/{own} was not read from {package}"
    modules = [path for kind, path in entries if kind == "module" and "/flowdeck/" in path]
    assert modules and all(_under(path, package) for path in modules), modules[:10]


# -- the wheel ------------------------------------------------------------------------------------


def test_the_build_prints_no_warning_and_the_wheel_holds_one_flowdeck_package(installed: Installed) -> None:
    assert "warning" not in installed.build_output.lower(), installed.build_output
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/RECORD"))
        assert wheel.read(f"{info}/top_level.txt").decode().split() == ["flowdeck"]
        recorded = {line.split(",")[0].split("/")[0] for line in wheel.read(f"{info}/RECORD").decode().splitlines()}
    assert recorded == {"flowdeck", info}
    # every file of the templates and themes ships, sample data (CSV, Parquet, SQLite) included
    data = [name for name in _checkout_files() if name.startswith(("engine/operations/templates/", "themes/"))]
    missing = [name for name in data if f"flowdeck/{name}" not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert {Path(name).stem for name in data if name.startswith("themes/") and name.endswith(".yaml")} == THEMES


def test_the_venv_has_no_top_level_engine_state_or_console_package(installed: Installed) -> None:
    top_level = {entry.name for entry in installed.site_packages.iterdir() if not entry.name.startswith(AUDIT)}
    assert "flowdeck" in top_level
    clashes = {name for name in top_level if name.removesuffix(".py") in FORBIDDEN_TOP_LEVEL}
    assert not clashes, clashes
    pointers = {name for name in top_level if name.endswith(".pth") or name.startswith("__editable__")}
    assert not pointers, f"path files would put other folders on sys.path: {pointers}"


# -- using it -------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", ["minimal", "files_to_tables", "database_export"])
def test_a_template_project_initialises_validates_and_runs_outside_the_checkout(
        installed: Installed, audited: Path, tmp_path: Path, template: str) -> None:
    root = tmp_path / "project"
    listed = installed.run("flowdeck", "init", "--list-templates", cwd=tmp_path, log=audited)
    assert listed.returncode == 0 and template in listed.stdout, listed
    made = installed.run("flowdeck", "init", str(root), "--template", template, cwd=tmp_path, log=audited)
    assert made.returncode == 0, made
    validated = installed.run("flowdeck", "validate", cwd=root, log=audited)
    assert validated.returncode == 0, validated
    for pipeline in sorted(path.parent.name for path in (root / "pipelines").glob("*/pipeline.yaml")):
        ran = installed.run("flowdeck", "run", pipeline, cwd=root, log=audited)
        assert ran.returncode == 0, ran
        assert "Traceback" not in ran.stdout + ran.stderr
    assert {row["status"] for row in ledger_rows(root, "SELECT status FROM runs")} == {"succeeded"}
    expected = EXPECTED[template](root)  # counted in plain Python from the sample data init wrote
    published = {table: warehouse_rows(root, f'SELECT count(*) FROM "{table}"')[0][0] for table in expected}
    assert expected and published == expected
    template_file = f"engine/operations/templates/{template}/flowdeck.yaml"
    assert_nothing_read_from_the_checkout(installed, audited, own_files=(template_file,))


def test_the_themes_and_the_console_work_under_tmux_at_80x24(
        installed: Installed, audited: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    made = installed.run("flowdeck", "init", str(root), "--template", "minimal", cwd=tmp_path, log=audited)
    assert made.returncode == 0, made
    listed = installed.run("python", "-c", LIST_THEMES, cwd=root, log=audited)
    assert listed.returncode == 0, listed
    found = json.loads(listed.stdout)
    assert set(found["themes"]) >= THEMES and not found["problems"], found
    assert _under(found["folder"], installed.site_packages / "flowdeck"), found

    terminal = Terminal(tmp_path / "tmux.sock")
    try:
        terminal.start(["sh", "-c", "flowdeck console --theme ansi; echo console exited $?"],
                       {**installed.env(audited), "TERM": "xterm-256color", "TEXTUAL_ANIMATIONS": "none"},
                       cwd=root, inherit=False)
        screen = terminal.wait_for(lambda s: "PIPELINE" in s and _row("hello", s), 60, "the pipelines list: hello")
        assert "no theme named" not in screen
        terminal.keys("F12")
        terminal.wait_for(lambda s: "themes: " + ", ".join(sorted(THEMES)) in s and "theme: ansi" in s, 15,
                          "the debug info naming the four themes, ansi in use")
        terminal.keys("Enter")  # closes it (Esc followed quickly by a key reads as alt+key)
        terminal.wait_for(lambda s: "debug" not in s and "q Quit" in s, 10, "the pipelines list again")
        terminal.keys("q")
        terminal.wait_for(lambda s: "console exited 0" in s, 20, "the console to quit")
    finally:
        terminal.kill()
    assert_nothing_read_from_the_checkout(installed, audited, own_files=("themes/ansi.yaml", "console/tui/app.tcss"))


def test_a_warm_server_of_the_installed_package_runs_its_commands(installed: Installed, audited: Path,
                                                                  tmp_path: Path) -> None:
    root = tmp_path / "project"
    assert installed.run("flowdeck", "init", str(root), "--template", "minimal", cwd=tmp_path, log=audited).returncode == 0
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**installed.env(audited), "XDG_RUNTIME_DIR": str(runtime)}

    def flowdeck(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(installed.venv / "bin" / "flowdeck"), *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)

    started = flowdeck("warm", "start")
    assert started.returncode == 0, started
    try:
        status = json.loads(flowdeck("warm", "status", "--json").stdout)
        assert status["package"] == str(installed.site_packages / "flowdeck"), status  # its own code, not the checkout's
        pipelines = sorted(path.parent.name for path in (root / "pipelines").glob("*/pipeline.yaml"))
        ran = flowdeck("run", pipelines[0])
        assert ran.returncode == 0 and "succeeded" in ran.stdout + ran.stderr, ran
        after = json.loads(flowdeck("warm", "status", "--json").stdout)
        assert after["commands_served"] == status["commands_served"] + 2  # the run, and the status command before it
    finally:
        flowdeck("warm", "stop")
    server = str(installed.site_packages / "flowdeck" / "console" / "cli" / "warm" / "server.py")
    assert ("module", server) in _logged(audited), "the warm server did not run from the installed package"
    assert_nothing_read_from_the_checkout(installed, audited, own_files=())
