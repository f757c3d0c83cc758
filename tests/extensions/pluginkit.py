"""Plugins for the tests: the repository's example plugin installed from its folder, and small
plugin packages written on the spot (a module and its dist-info), each put on a PYTHONPATH."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT, clean_env

EXAMPLE_PLUGIN = REPO_ROOT / "plugins" / "flowdeck-http-extract"


def install_example_plugin(target: Path) -> Path:
    """pip-install the example plugin from its folder into ``target`` (not into the test venv: it
    would change what every other test sees); return the folder to put on PYTHONPATH."""
    # built from a copy: setuptools writes build/ and *.egg-info into the folder it builds
    source = shutil.copytree(EXAMPLE_PLUGIN, target.parent / f"{target.name}-source",
                             ignore=shutil.ignore_patterns("build", "*.egg-info"))
    completed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                                str(source)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return target


def write_plugin(folder: Path, distribution: str, group: str, entries: dict[str, str], modules: dict[str, str]) -> Path:
    """A package as pip would leave it: its modules and a dist-info naming its entry points."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in modules.items():
        (folder / f"{name}.py").write_text(text)
    info = folder / f"{distribution.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    lines = [f"[{group}]", *(f"{name} = {target}" for name, target in entries.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return folder


def env_with(*paths: Path) -> dict[str, str]:
    """The CLI's environment with these folders on PYTHONPATH (where the plugins are)."""
    return clean_env(PYTHONPATH=":".join(str(path) for path in paths))


class JsonApi:
    """An HTTP/JSON API on 127.0.0.1: ``pages`` served in turn, each pointing at the next; requests kept."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.requests: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                api.requests.append({"path": self.path, "headers": dict(self.headers)})
                index = int(self.path.rsplit("page=", 1)[1]) if "page=" in self.path else 0
                body = json.dumps(api.pages[index]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self) -> JsonApi:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"
