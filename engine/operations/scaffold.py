"""`flowdeck init`: write a new project from a template folder under engine/operations/templates/.

A template is nothing but a folder holding a complete project (flowdeck.yaml, pipelines/,
sample data); adding a template means adding a folder. The first line of its flowdeck.yaml,
a comment, is the one-line description `flowdeck init --list-templates` shows. Nothing that
already exists is ever overwritten.
"""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flowdeck.engine.errors import FlowdeckError, NotFound

TEMPLATES_DIR = Path(__file__).parent / "templates"
PROJECT_FILE = "flowdeck.yaml"
DEFAULT_TEMPLATE = "minimal"  # what `flowdeck init` uses when it cannot ask: the smallest project that runs
_SKIPPED = {"__pycache__", ".flowdeck", ".DS_Store"}


@dataclass(frozen=True)
class Template:
    """A project template: its name (the folder's) and its one-line description."""

    name: str
    description: str


@dataclass(frozen=True)
class ScaffoldResult:
    """What ``init_project`` wrote: the project folder, its files and the pipeline to run first."""

    root: Path
    pipeline: str
    files: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)


def template_names() -> list[str]:
    """The templates ``flowdeck init --template`` accepts, sorted."""
    if not TEMPLATES_DIR.is_dir():
        return []
    return sorted(entry.name for entry in TEMPLATES_DIR.iterdir() if (entry / PROJECT_FILE).is_file())


def templates() -> list[Template]:
    """Every template with its description, the default first, then by name."""
    found = [Template(name, _description(TEMPLATES_DIR / name / PROJECT_FILE)) for name in template_names()]
    return sorted(found, key=lambda template: (template.name != DEFAULT_TEMPLATE, template.name))


def _description(project_file: Path) -> str:
    """The first line of a template's flowdeck.yaml, when it is a comment; else nothing."""
    with open(project_file, encoding="utf-8") as handle:
        first = handle.readline().strip()
    return first.lstrip("#").strip() if first.startswith("#") else ""


def init_project(directory: str | Path, template: str = DEFAULT_TEMPLATE) -> ScaffoldResult:
    """Write the ``template`` project into ``directory`` (created if missing).

    Refuses, writing nothing, when ``directory`` already holds a project or any file the
    template would write.
    """
    source = TEMPLATES_DIR / template
    known = template_names()
    if template not in known:
        close = difflib.get_close_matches(template, known, n=1)
        raise NotFound(
            f"no project template named `{template}`; nothing was written",
            hint=(f"did you mean `{close[0]}`? " if close else "")
            + f"available templates: {', '.join(known)} (`flowdeck init --list-templates` describes them)",
        )
    root = Path(directory).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise FlowdeckError(f"{root} exists and is not a folder", hint="choose another path for the new project")
    if (root / PROJECT_FILE).exists():
        raise FlowdeckError(
            f"{root} already holds a flowdeck project ({PROJECT_FILE} exists); nothing was written",
            hint="choose an empty or new folder, or edit the existing project",
        )
    relative = sorted(_template_files(source))
    clashes = [path for path in relative if (root / path).exists()]
    if clashes:
        shown = ", ".join(str(path) for path in clashes[:5]) + (" …" if len(clashes) > 5 else "")
        raise FlowdeckError(
            f"{root} already has files the template would overwrite: {shown}; nothing was written",
            hint="choose an empty or new folder",
        )
    written: list[Path] = []
    for path in relative:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / path, target)
        written.append(target)
    return ScaffoldResult(root=root, pipeline=_first_pipeline(source), files=written)


def _template_files(source: Path) -> Iterator[Path]:
    for path in source.rglob("*"):
        if path.is_file() and not _SKIPPED.intersection(path.relative_to(source).parts):
            yield path.relative_to(source)


def _first_pipeline(source: Path) -> str:
    """The pipeline to suggest running first: the template's only (or alphabetically first) one."""
    names = sorted(entry.parent.name for entry in (source / "pipelines").glob("*/pipeline.yaml"))
    if not names:
        raise FlowdeckError(f"the template {source.name} has no pipeline", hint="add pipelines/<name>/pipeline.yaml to it")
    return names[0]
