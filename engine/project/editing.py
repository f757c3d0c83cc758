"""Editing a pipeline's files: which files, whether a text is valid, and the backup kept on save.

Validation reuses the loaders the engine runs with (YAML with positions, the config models,
sqlglot), so what the editor accepts is exactly what a run accepts.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from flowdeck.engine.errors import ConfigError, FlowdeckError, Location
from flowdeck.engine.project.config.pipeline import PipelineConfig
from flowdeck.engine.project.config.project import ProjectConfig
from flowdeck.engine.project.project import PIPELINE_FILE, PROJECT_FILE
from flowdeck.engine.project.validation import validate_document
from flowdeck.engine.project.yamlfile import parse_yaml
from flowdeck.engine.sql.analysis import parse_query

EDITABLE_SUFFIXES = (".yaml", ".yml", ".sql")


@dataclass(frozen=True)
class SaveResult:
    """Where a file was written and where its previous version was kept."""

    path: Path
    backup: Path | None
    problems: int


def editable_files(folder: Path) -> list[Path]:
    """A pipeline's files an operator edits: pipeline.yaml first, then its SQL files by name."""
    files = [folder / PIPELINE_FILE] if (folder / PIPELINE_FILE).is_file() else []
    files += sorted(path for path in folder.glob("*.sql") if path.is_file())
    return files


def language_of(path: Path) -> str | None:
    """The syntax-highlighting language of a file (``yaml``, ``sql``), or None for plain text."""
    return {".yaml": "yaml", ".yml": "yaml", ".sql": "sql"}.get(path.suffix.lower())


def check_source(path: Path, text: str) -> list[FlowdeckError]:
    """Every problem in ``text`` (the would-be content of ``path``), each with line and column."""
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            document = parse_yaml(text, path)
            if path.name == PIPELINE_FILE:
                validate_document(document, PipelineConfig)
            elif path.name == PROJECT_FILE:
                validate_document(document, ProjectConfig)
        elif path.suffix.lower() == ".sql":
            parse_query(text, path)
    except FlowdeckError as error:
        return [error, *error.also]
    return []


def refusal(path: Path, problems: list[FlowdeckError]) -> ConfigError:
    """The error that refuses to save ``path`` because of ``problems`` (the first one located)."""
    first = problems[0]
    return ConfigError(
        f"not saved: {path.name} has {len(problems)} problem{'s' if len(problems) > 1 else ''}: {first.what}",
        location=first.location or Location(path),
        excerpt=first.excerpt,
        hint="fix it, or force the save to keep an invalid file on purpose",
    )


def keep_backup(path: Path, backup_dir: Path) -> Path | None:
    """Copy ``path`` (if it exists) into ``backup_dir`` as ``<folder>.<name>.<time>.bak``; return the copy."""
    if not path.exists():
        return None
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = backup_dir / f"{path.parent.name}.{path.name}.{stamp}.bak"
    counter = 1
    while backup.exists():  # two saves within a second keep both versions
        backup = backup_dir / f"{path.parent.name}.{path.name}.{stamp}-{counter}.bak"
        counter += 1
    shutil.copy2(path, backup)
    return backup
