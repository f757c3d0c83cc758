"""A flowdeck project on disk: finding it, its configuration, its pipelines and its runtime paths."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from flowdeck.engine.errors import ConfigError, Location, NotFound, ProjectNotFound
from flowdeck.engine.project.config.fields import IDENTIFIER
from flowdeck.engine.project.config.pipeline import PipelineConfig
from flowdeck.engine.project.config.project import ProjectConfig
from flowdeck.engine.project.validation import validate_document
from flowdeck.engine.project.yamlfile import YamlDocument, load_yaml

if TYPE_CHECKING:
    from flowdeck.engine.sql.cache import AnalysisCache

PROJECT_FILE = "flowdeck.yaml"
PIPELINE_FILE = "pipeline.yaml"
PROJECT_ENV = "FLOWDECK_PROJECT"
# The environment every run writes to unless told otherwise: the project's own warehouse.
PROD = "prod"
# A pipeline is named by its folder directly under pipelines/, an environment by its folder under
# envs/: each an identifier, never a path.
_NAME = re.compile(IDENTIFIER)


def find_project_root(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """Where the project is: ``--project``, then ``$FLOWDECK_PROJECT``, then upward from ``cwd``."""
    for chosen, origin in ((explicit, "--project"), (os.environ.get(PROJECT_ENV), PROJECT_ENV)):
        if chosen:
            root = Path(chosen).expanduser().resolve()
            if not (root / PROJECT_FILE).is_file():
                raise ProjectNotFound(
                    f"{origin} points to {root}, which has no {PROJECT_FILE}",
                    hint=f"create one with `flowdeck init {root}`, or point {origin} at a project folder",
                )
            return root
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise ProjectNotFound(
        f"no {PROJECT_FILE} in {start} or any folder above it",
        hint=f"run inside a project, pass --project DIR, set {PROJECT_ENV}, or create one with `flowdeck init DIR`",
    )


@dataclass(frozen=True)
class PipelineSource:
    """A pipeline's folder, its validated pipeline.yaml and the document it came from."""

    name: str
    folder: Path
    config: PipelineConfig
    document: YamlDocument

    @property
    def file(self) -> Path:
        """The pipeline.yaml."""
        return self.folder / PIPELINE_FILE


@dataclass
class Project:
    """A loaded flowdeck.yaml and the paths derived from it. Pipelines load on first use."""

    root: Path
    config: ProjectConfig
    _pipelines: dict[str, PipelineSource] = field(default_factory=dict, repr=False)
    environment: str = PROD

    @classmethod
    def load(cls, explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Project:
        """Find and load the project (see ``find_project_root``)."""
        root = find_project_root(explicit, cwd)
        document = load_yaml(root / PROJECT_FILE)
        config = validate_document(document, ProjectConfig)
        refuse_literal_credentials(document)
        return cls(root=root, config=config)

    # -- paths ---------------------------------------------------------------------------------

    @cached_property
    def runtime_dir(self) -> Path:
        """Warehouse, ledger, logs and temporary files (``.flowdeck/`` by default)."""
        return (self.root / self.config.runtime_dir).resolve()

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB database file of this project's environment (prod's is the configured one)."""
        if self.environment == PROD:
            return self.prod_warehouse_path
        return self.environments_dir / self.environment / Path(self.config.warehouse.path).name

    @property
    def prod_warehouse_path(self) -> Path:
        """The production warehouse, whichever environment this project is in."""
        return self.runtime_dir / self.config.warehouse.path

    @property
    def environments_dir(self) -> Path:
        """Where each environment but prod keeps its own warehouse: ``envs/<name>/``."""
        return self.runtime_dir / "envs"

    def environment_links(self, *, deep: bool = False) -> list[Path]:
        """Symbolic links where this environment's files live: ``envs/``, ``envs/<name>/``, its warehouse and
        write-ahead log (with ``deep``, anything inside its folder). flowdeck makes plain folders and files
        there, so a link is someone else's doing, and nothing of flowdeck's reads, writes or deletes through one
        (it could reach outside the project). prod's warehouse is where flowdeck.yaml says: none are looked for."""
        if self.environment == PROD:
            return []
        folder = self.warehouse_path.parent
        links = [path for path in (self.environments_dir, folder, self.warehouse_path, wal_path(self.warehouse_path))
                 if path.is_symlink()]
        if deep and not links and folder.is_dir():
            for root, folders, files in os.walk(folder):  # followlinks=False: a link to a folder is listed, not entered
                links += [Path(root) / entry for entry in (*folders, *files) if (Path(root) / entry).is_symlink()]
        return links

    def refuse_environment_links(self) -> None:
        """Raise (in words) when this environment's warehouse would be opened through a symbolic link."""
        links = self.environment_links()
        if links:
            link = links[0]
            raise ConfigError(
                f"environment `{self.environment}`'s warehouse was not opened: {link} is a symbolic link "
                f"(to {os.readlink(link)}), and flowdeck never reads or writes an environment through a link",
                hint=f"an environment's folder holds plain files that flowdeck made under {self.environments_dir}; "
                f"remove the link (`rm {link}`) and run again: the environment is built anew in a plain folder",
            )

    def in_environment(self, name: str) -> Project:
        """This project seen from environment ``name``: same pipelines and ledger, its own warehouse file.

        The one gate an environment name passes before it becomes a path: an identifier, never a path.
        """
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            shown = name if isinstance(name, str) and name.isprintable() else repr(name)
            raise ConfigError(
                f"`{shown}` is not an environment name: use letters, digits and _ (for example `dev`), not a path",
                hint=f"`{PROD}` is the project's own warehouse; any other name is a development environment",
            )
        if name == self.environment:
            return self
        return Project(root=self.root, config=self.config, _pipelines=self._pipelines, environment=name)

    @property
    def ledger_path(self) -> Path:
        """The SQLite run ledger."""
        return self.runtime_dir / "ledger.sqlite"

    @property
    def logs_dir(self) -> Path:
        """Log files of the daemon and of detached workers."""
        return self.runtime_dir / "logs"

    @property
    def temp_dir(self) -> Path:
        """Private temporary files of runs."""
        return self.runtime_dir / "tmp"

    @property
    def cache_dir(self) -> Path:
        """Derived data that can be rebuilt at any time (the SQL analysis memo)."""
        return self.runtime_dir / "cache"

    @cached_property
    def analysis_cache(self) -> AnalysisCache:
        """Analyses of the project's SQL texts, so unchanged SQL is not parsed again."""
        from flowdeck.engine.sql.cache import AnalysisCache

        return AnalysisCache(self.cache_dir / "sql-analysis.json", prepare=self.ensure_runtime_dirs)

    @property
    def pipelines_dir(self) -> Path:
        """The folder holding one folder per pipeline."""
        return self.root / self.config.pipelines_dir

    def ensure_runtime_dirs(self) -> None:
        """Create the runtime folders, readable by the owner only; a file where one belongs is refused in words.

        A runtime folder an admin made group-writable is shared with that group (``sharing.py``):
        its subfolders and what this process creates from now on keep the group's rights.
        """
        from flowdeck.engine.project.sharing import folder_mode, group_shared, share_ledger, share_with_group

        for folder in (self.runtime_dir, self.logs_dir, self.temp_dir):
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
                raise ConfigError(
                    f"{blocking} is a file, where flowdeck keeps its runtime folder",
                    hint=f"move the file aside (flowdeck recreates the folder), or set `runtime_dir` in "
                    f"{self.root / PROJECT_FILE} to another folder",
                ) from None
        if group_shared(self.runtime_dir):
            share_with_group()
            for folder in (self.logs_dir, self.temp_dir, self.cache_dir):
                wanted = folder_mode(self.runtime_dir, temp=folder == self.temp_dir)
                try:
                    folder.mkdir(mode=wanted & 0o777, exist_ok=True)
                    if folder.stat().st_uid == os.geteuid() and (folder.stat().st_mode & 0o7777) != wanted:
                        os.chmod(folder, wanted)  # created private before the folder was shared, or by the umask
                except OSError:
                    pass  # another member's folder: they keep it shared
            share_ledger(self.ledger_path)
        ignore = self.runtime_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")

    # -- pipelines -----------------------------------------------------------------------------

    def pipeline_names(self) -> list[str]:
        """Names of the pipelines on disk (folders holding a pipeline.yaml), sorted.

        A folder where pipeline.yaml belongs counts too, so loading it says what is wrong.
        """
        if not self.pipelines_dir.is_dir():
            return []
        return sorted(entry.name for entry in self.pipelines_dir.iterdir() if (entry / PIPELINE_FILE).exists())

    def pipeline_folder(self, name: str) -> Path:
        """The folder of pipeline ``name``, directly under pipelines/.

        The one gate every pipeline name a person or a ledger row gives passes before it becomes
        a path: a name is an identifier (letters, digits and _), so ``../elsewhere`` or an
        absolute path can never make a pipeline of a folder outside the project.
        """
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            shown = name if isinstance(name, str) and name.isprintable() else repr(name)
            raise NotFound(
                f"`{shown}` is not a pipeline name: a pipeline is a folder directly under {self.pipelines_dir}, "
                "named with letters, digits and _ (not a path)",
                hint=did_you_mean(str(name), self.pipeline_names()) or "list them with `flowdeck pipelines`",
            )
        return self.pipelines_dir / name

    def pipeline(self, name: str) -> PipelineSource:
        """Load and validate one pipeline's YAML (its name passes ``pipeline_folder``'s gate first)."""
        if name not in self._pipelines:
            folder = self.pipeline_folder(name)
            if not (folder / PIPELINE_FILE).exists():
                raise NotFound(
                    f"no pipeline named `{name}` in {self.pipelines_dir}",
                    hint=did_you_mean(name, self.pipeline_names()) or "list them with `flowdeck pipelines`",
                )
            document = load_yaml(folder / PIPELINE_FILE)
            config = validate_document(document, PipelineConfig)
            refuse_literal_credentials(document)
            self._pipelines[name] = PipelineSource(name=name, folder=folder, config=config, document=document)
        return self._pipelines[name]

    def pipelines(self) -> list[PipelineSource]:
        """Every pipeline, validated; raises on the first invalid one."""
        return [self.pipeline(name) for name in self.pipeline_names()]

    def files_signature(self) -> tuple[tuple[str, int, int], ...]:
        """The project's configuration files as they are on disk now: (path, size, mtime) of flowdeck.yaml
        and of every pipeline's YAML and SQL files. Cheap to take (a few directory reads, no file read)
        and different after any of them is edited, added or removed: how an open console notices."""
        found: list[tuple[str, int, int]] = []

        def add(entry: os.DirEntry[str] | Path) -> None:
            try:
                info = entry.stat()
            except OSError:
                return
            found.append((str(entry.path if isinstance(entry, os.DirEntry) else entry), info.st_size, info.st_mtime_ns))

        add(self.root / PROJECT_FILE)
        try:
            folders = [entry for entry in os.scandir(self.pipelines_dir) if entry.is_dir()]
        except OSError:
            folders = []
        for folder in folders:
            try:
                files = [entry for entry in os.scandir(folder.path)
                         if entry.name.endswith((".yaml", ".yml", ".sql")) and entry.is_file()]
            except OSError:
                continue
            for entry in files:
                add(entry)
        return tuple(sorted(found))

    def forget(self, name: str | None = None) -> None:
        """Drop cached pipeline files so the next access reads them again (after an edit)."""
        if name is None:
            self._pipelines.clear()
        else:
            self._pipelines.pop(name, None)

    def resolve_path(self, relative: str) -> Path:
        """A path from configuration, relative to the project root."""
        return (self.root / relative).resolve() if not os.path.isabs(relative) else Path(relative)


def wal_path(warehouse: Path) -> Path:
    """DuckDB's write-ahead log of a warehouse file: ``<file>.wal`` beside it, holding what is not checkpointed yet."""
    return warehouse.with_name(warehouse.name + ".wal")


def did_you_mean(name: str, choices: list[str]) -> str | None:
    """A hint for a mistyped pipeline name: the closest one, else the list of them."""
    import difflib

    close = difflib.get_close_matches(name, choices, n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    if choices:
        return f"known pipelines: {', '.join(choices)}"
    return None


def refuse_literal_credentials(document: YamlDocument) -> None:
    """Raise one ConfigError listing every credential written in plain text in ``document``."""
    from flowdeck.engine.secrets.literals import literal_credentials

    problems = literal_credentials(document)
    if problems:
        first, *rest = problems
        raise ConfigError(first.what, location=first.location, hint=first.hint, excerpt=first.excerpt, also=rest)


def config_error_at(source: PipelineSource, at: tuple[str | int, ...], what: str, hint: str | None = None) -> ConfigError:
    """A ConfigError pointing at a value of a pipeline.yaml."""
    location: Location = source.document.location(at)
    return ConfigError(what, location=location, hint=hint, excerpt=source.document.excerpt(location))
