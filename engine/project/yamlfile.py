"""Read a YAML file into plain Python values while remembering where every value came from.

Errors found later, by the config models, are reported at the line and column of the key or
value they concern, so this module keeps a map from a value's path (``("steps", 2, "sql")``)
to its position in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flowdeck.engine.errors import ConfigError, Location, excerpt_of

try:  # the C loader is several times faster; fall back when libyaml is missing
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

YamlPath = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """The values of one YAML file and the positions they came from (1-based)."""

    path: Path
    text: str
    data: Any
    value_positions: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)

    def location(self, at: YamlPath, *, key: bool = False) -> Location:
        """Where the value (or, with ``key``, the key) at ``at`` is; falls back to its parent.

        The location names the key path ``at`` itself, even when the position is its parent's
        (a missing key is reported where it should be added).
        """
        positions = self.key_positions if key else self.value_positions
        named = key_path(at)
        probe = tuple(at)
        while probe:
            if probe in positions:
                line, column = positions[probe]
                return Location(self.path, line, column, named)
            if not key and probe in self.key_positions:
                line, column = self.key_positions[probe]
                return Location(self.path, line, column, named)
            probe = probe[:-1]
        line, column = self.value_positions.get((), (0, 0))
        return Location(self.path, line, column, named)

    def excerpt(self, location: Location) -> str:
        """The source line at ``location`` with a caret; a credential written on it is shown as ``***``."""
        return _masked_excerpt(self.text, location.line, location.column)


def key_path(at: YamlPath) -> str:
    """``("steps", 1, "checks", 0, "not_null")`` → ``steps[1].checks[0].not_null`` (yq's spelling)."""
    text = ""
    for part in at:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def load_yaml(path: Path) -> YamlDocument:
    """Parse ``path``; a syntax error or a duplicate key becomes a ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}", hint="check the path, or create the file") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse YAML ``text`` that came from ``path`` (used for messages only)."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        location = Location(path, line, column)
        problem = error.problem or "invalid YAML"
        raise ConfigError(
            f"this is not valid YAML: {problem}",
            location=location,
            excerpt=_masked_excerpt(text, line, column),
            hint="check indentation and quoting on this line or the one before it",
        ) from None
    document = YamlDocument(path=path, text=text, data=None)
    if root is None:
        document.data = {}
        return document
    document.data = _build(root, (), document)
    return document


def _masked_excerpt(text: str, line: int, column: int) -> str:
    """``excerpt_of`` for YAML: an error message must not echo the literal password it complains about."""
    from flowdeck.engine.masking import mask_config_line

    return excerpt_of("\n".join(mask_config_line(source) for source in text.splitlines()), line, column)


_constructor = yaml.SafeLoader("")  # only its scalar constructors are used


def _build(node: yaml.Node, at: YamlPath, document: YamlDocument) -> Any:
    document.value_positions[at] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int)):
                key = str(key)
            child = (*at, key)
            key_position = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                location = Location(document.path, *key_position, key_path(child))
                raise ConfigError(
                    f"the key `{key}` appears twice",
                    location=location,
                    excerpt=_masked_excerpt(document.text, *key_position),
                    hint="remove one of them; YAML would silently keep only the last",
                )
            document.key_positions[child] = key_position
            result[key] = _build(value_node, child, document)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*at, index), document) for index, item in enumerate(node.value)]
    return _constructor.construct_object(node, deep=True)
