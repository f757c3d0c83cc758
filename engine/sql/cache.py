"""A memo of SQL analysis results by SQL text, kept in the project's runtime folder.

Analysing a query (DuckDB's parser, then sqlglot) is a pure function of its text and of the
versions of the parsers, so its result can be reused as long as the text is byte-for-byte
the same. Reusing it spares every later ``validate`` and ``run`` the import of sqlglot and
the parse (about 0.2 s). Only successful analyses are stored; errors are found afresh.
The file is an optimisation: unreadable, stale or concurrently rewritten, it is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from importlib.util import find_spec
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMAT = 1
MAX_ENTRIES = 5000


def parser_fingerprint() -> str:
    """What the stored results depend on besides the SQL: this code and the installed parsers.

    Read from file modification times, so nothing is imported to compute it.
    """
    parts = [str(FORMAT)]
    here = Path(__file__).parent
    for path in (here / "analysis.py", here / "params.py", here / "columns.py"):
        parts.append(_mtime(path))
    for package in ("sqlglot", "duckdb"):
        spec = find_spec(package)
        parts.append(_mtime(Path(spec.origin)) if spec and spec.origin else "missing")
    return ":".join(parts)


def _mtime(path: Path) -> str:
    try:
        return str(path.stat().st_mtime_ns)
    except OSError:
        return "missing"


class AnalysisCache:
    """Analysis results by SQL text, loaded on first use and written back by ``save``."""

    def __init__(self, path: Path, prepare: Callable[[], None] | None = None) -> None:
        """``prepare`` creates the folders above ``path`` the way their owner wants them (private)."""
        self.path = path
        self._prepare = prepare
        self._entries: dict[str, Any] | None = None
        self._fingerprint = ""
        self._dirty = False
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str) -> str:
        """The entry name of a SQL text."""
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._fingerprint = parser_fingerprint()
            entries: dict[str, Any] = {}
            try:
                stored = json.loads(self.path.read_text(encoding="utf-8"))
                if stored.get("fingerprint") == self._fingerprint and isinstance(stored.get("entries"), dict):
                    entries = stored["entries"]
            except (OSError, ValueError, AttributeError):
                pass  # missing or damaged: start afresh
            self._entries = entries
        return self._entries

    def get(self, text: str) -> dict[str, Any] | None:
        """The stored analysis of ``text``, if any."""
        with self._lock:
            return self._load().get(self.key(text))

    def put(self, text: str, analysis: dict[str, Any]) -> None:
        """Remember the analysis of ``text`` (written by the next ``save``)."""
        with self._lock:
            entries = self._load()
            key = self.key(text)
            if entries.get(key) != analysis:
                entries[key] = analysis
                self._dirty = True

    def save(self) -> None:
        """Write new entries to disk, atomically; a read-only project simply keeps no cache."""
        with self._lock:
            if not self._dirty or self._entries is None:
                return
            entries = self._entries
            if len(entries) > MAX_ENTRIES:  # oldest first in insertion order: keep the newest
                entries = dict(list(entries.items())[-MAX_ENTRIES:])
                self._entries = entries
            partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
            try:
                if self._prepare is not None:
                    self._prepare()
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                partial.write_text(json.dumps({"fingerprint": self._fingerprint, "entries": entries}), encoding="utf-8")
                os.replace(partial, self.path)
                self._dirty = False
            except OSError:
                with contextlib.suppress(OSError):
                    partial.unlink(missing_ok=True)
