"""Test instrument: logs every path an interpreter opens, lists, copies, connects to or imports from.

tests/packaging/test_wheel.py copies this file into the site-packages of the venv it installs the
wheel into, with a ``.pth`` line that imports it, so every Python process of that venv (the CLI,
the console, the workers they start) runs it at start-up. It is inert unless the environment
variable ``FLOWDECK_PATH_LOG`` names a folder; then each process appends to ``<folder>/<pid>.log``:

- ``<event> <path>`` for each file-system audit event (PEP 578: ``open`` covers ``open()``,
  ``Path.read_text`` and the import system reading modules; ``os.listdir``/``os.scandir`` cover
  ``iterdir``, ``glob`` and the import system listing each ``sys.path`` folder; ``shutil.*``,
  ``sqlite3.connect``, ``subprocess.Popen``, ``os.chdir``);
- at exit, ``module <file>`` for every module in ``sys.modules`` (extension modules too, which
  the import system loads without an ``open`` event) and ``sys.path <entry>``.

What it cannot see: reads done in C by an extension (DuckDB opening its files) and ``stat`` calls
(``Path.exists``); the package finds its own files through Python, so that is where a read of a
source checkout would show.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Any

_EVENTS = frozenset({
    "open", "os.listdir", "os.scandir", "os.chdir", "glob.glob", "glob.glob/2", "shutil.copyfile",
    "shutil.copymode", "shutil.copystat", "shutil.copytree", "shutil.make_archive", "shutil.unpack_archive",
    "sqlite3.connect", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "import", "compile",
})


def _paths(value: Any) -> list[str]:
    """The paths in one audit argument (a path, or a list of them such as sys.path or a command line)."""
    if isinstance(value, (list, tuple)):
        return [path for item in value for path in _paths(item)]
    if isinstance(value, (str, bytes, os.PathLike)):
        try:
            text = os.fsdecode(value)
        except (TypeError, ValueError):
            return []
        if os.sep in text and "\n" not in text:  # a path, not source code or a bare name
            return [os.path.abspath(text)]
    return []


def _install(folder: str) -> None:
    # opened before the hook exists, and written with os.write (which raises no audit event)
    descriptor = os.open(os.path.join(folder, f"{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(kind: str, path: str) -> None:
        os.write(descriptor, f"{kind} {path}\n".encode("utf-8", "surrogateescape"))

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in _EVENTS:
            # compile's first argument is source text; import's are the module's name, its file and
            # sys.path (written once, at exit: on every import it would be thousands of lines)
            for path in _paths(args[1:2] if event in ("compile", "import") else args):
                write(event, path)

    def at_exit() -> None:
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if isinstance(file, str):
                write("module", os.path.abspath(file))
        for entry in sys.path:
            write("sys.path", os.path.abspath(entry))

    write("executable", sys.executable)
    atexit.register(at_exit)
    sys.addaudithook(hook)


if os.environ.get("FLOWDECK_PATH_LOG"):
    _install(os.environ["FLOWDECK_PATH_LOG"])
