"""Editing a pipeline's files: which files, whether a text is valid, and the backup kept on save.

Validation reuses the loaders the engine runs with (YAML with positions, the config models,
sqlglot), so what the editor accepts is exactly what a run accepts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flowdeck.engine.errors import ConfigError, FlowdeckError, Forbidden, Location, NotFound
from flowdeck.engine.project.config.pipeline import PipelineConfig
from flowdeck.engine.project.config.project import ProjectConfig
from flowdeck.engine.project.project import PIPELINE_FILE, PROJECT_FILE, Project, did_you_mean
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


def pipeline_files(project: Project, pipeline: str) -> list[Path]:
    """The files of a pipeline an operator may edit: pipeline.yaml, then its SQL files."""
    folder = project.pipeline_folder(pipeline)
    if not folder.is_dir():
        raise NotFound(f"no pipeline named `{pipeline}` in {project.pipelines_dir}",
                       hint=did_you_mean(pipeline, project.pipeline_names()) or "create one with `flowdeck new pipeline`")
    return editable_files(folder)


def save_file(project: Project, path: Path, text: str, *, force: bool, keep_backups: bool,
              write: Callable[[str, str], Path]) -> SaveResult:
    """Save an edited pipeline file: refuse an invalid one unless forced, keep the old one in backups
    (when ``keep_backups``), then ``write`` it (the project-relative path and the text)."""
    path = Path(path).resolve()
    if project.pipelines_dir.resolve() not in path.parents:
        raise NotFound(f"{path} is not a file of a pipeline of this project",
                       hint=f"only files under {project.pipelines_dir} are saved from the editor")
    problems = check_source(path, text)
    if problems and not force:
        raise refusal(path, problems)
    backup = keep_backup(path, project.runtime_dir / "backups") if keep_backups else None
    write(str(path.relative_to(project.root)), text)
    return SaveResult(path=path, backup=backup, problems=len(problems))


def write_project_file(project: Project, relative: str, text: str) -> tuple[Path, str]:
    """Replace a file of the project's configuration atomically; return its path and the text's sha256.

    Paths outside the project, or inside its runtime folder, are refused.
    """
    path = (project.root / relative).resolve()
    if not path.is_relative_to(project.root) or path.is_relative_to(project.runtime_dir):
        raise Forbidden(f"{relative} is not a file of the project's configuration",
                        hint="edit files under the project folder, outside its runtime folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    project.forget()
    return path, hashlib.sha256(text.encode()).hexdigest()


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
