"""Console themes as data files: one YAML file a theme in themes/, validated when loaded.

A file that does not parse, has unknown keys or colours Textual cannot read is skipped with a
message (the app toasts it and falls back to the default theme); it never stops the console.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from textual.theme import Theme

import flowdeck.themes

DEFAULT_THEME = "flowdeck-dark"
BUILTIN_THEMES_DIR = Path(flowdeck.themes.__file__).resolve().parent  # package data, installed or not


class ThemeFile(BaseModel):
    """The content of one theme file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="what `--theme` and `:theme` call it")
    dark: bool = Field(default=True, description="a dark theme (light text on dark background)")
    ansi: bool = Field(default=False, description="colours are ANSI names; the terminal's palette decides")
    primary: str
    secondary: str | None = None
    accent: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    variables: dict[str, str] = Field(default_factory=dict, description="extra Textual CSS variables")

    def to_theme(self) -> Theme:
        """The Textual theme; raises ``ValueError`` naming a colour Textual cannot parse."""
        theme = Theme(
            name=self.name, primary=self.primary, secondary=self.secondary, accent=self.accent,
            warning=self.warning, error=self.error, success=self.success, foreground=self.foreground,
            background=self.background, surface=self.surface, panel=self.panel, boost=self.boost,
            dark=self.dark, variables=dict(self.variables), ansi=self.ansi,
        )
        try:
            theme.to_color_system().generate()
        except Exception as error:  # Textual raises ColorParseError and friends
            raise ValueError(str(error).splitlines()[0]) from None
        return theme


@dataclass
class LoadedThemes:
    """The valid themes found, and one message per invalid file."""

    themes: dict[str, Theme] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load_themes(*folders: Path) -> LoadedThemes:
    """Every ``*.yaml`` theme in ``folders``; a later folder's theme replaces an earlier one of the same name."""
    loaded = LoadedThemes()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            try:
                theme = load_theme_file(path)
            except ValueError as error:
                loaded.problems.append(f"{path.name}: {error}")
                continue
            loaded.themes[theme.name] = theme
    return loaded


# Themes read, by file and its size and modification time: `flowdeck console` checks --theme against the
# files before it starts the app, which registers the same files (reading them twice delayed its first paint).
_READ: dict[tuple[Path, int, int], Theme] = {}


def load_theme_file(path: Path) -> Theme:
    """One theme file → Textual theme; ``ValueError`` with a readable reason when it is invalid."""
    try:
        stat = path.stat()
        key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
        if key in _READ:
            return _READ[key]
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read it: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a mapping of keys to values")
    try:
        spec = ThemeFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        raise ValueError(f"{where}: {first['msg']}") from None
    theme = _READ[key] = spec.to_theme()
    return theme
