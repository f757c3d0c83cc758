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
    """Parse ``path``; a syntax error, a duplicate key, bytes that are not UTF-8 or a folder where the
    file belongs becomes a ``ConfigError``."""
    from flowdeck.engine.project.textfile import read_text

    try:
        text = read_text(path)
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}", hint="check the path, or create the file") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse YAML ``text`` that came from ``path`` (used for messages only); whatever the parser refuses
    (syntax, a character YAML does not allow, a tag it cannot construct) becomes a ``ConfigError``."""
    document = YamlDocument(path=path, text=text, data=None)
    try:
        root = yaml.compose(text, Loader=_Loader)
        document.data = {} if root is None else _build(root, (), document, _Budget(path))
    except yaml.MarkedYAMLError as error:  # syntax, or a tag (`!x`) it has no constructor for
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = error.problem or "invalid YAML"
        raise ConfigError(
            f"this is not valid YAML: {problem}",
            location=Location(path, line, column),
            excerpt=_masked_excerpt(text, line, column),
            hint="check indentation and quoting on this line or the one before it",
        ) from None
    except yaml.reader.ReaderError as error:  # a character YAML does not allow (a control character)
        before = text[: error.position]
        line, column = before.count("\n") + 1, error.position - (before.rfind("\n") + 1) + 1
        code = error.character if isinstance(error.character, int) else ord(error.character)
        raise ConfigError(
            f"this is not valid YAML: character U+{code:04X} is not allowed in a YAML file",
            location=Location(path, line, column),
            excerpt=_masked_excerpt(text, line, column),
            hint="remove the character (control characters other than tab and newline cannot appear in YAML)",
        ) from None
    except yaml.YAMLError as error:  # anything else the parser refuses, said in its words
        raise ConfigError(f"this is not valid YAML: {error}", location=Location(path),
                          hint="check the file's syntax") from None
    return document


class _Budget:
    """How many values a document may expand to, and how deep: aliases (``*name``) repeat whole
    subtrees, so a few lines can stand for billions of values (a "billion laughs" file) or, made
    recursive, for infinitely many."""

    VALUES = 100_000
    DEPTH = 64

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values = 0

    def spend(self, node: yaml.Node, depth: int) -> None:
        self.values += 1
        if self.values > self.VALUES or depth > self.DEPTH:
            too = f"more than {self.VALUES:,} values" if self.values > self.VALUES else f"deeper than {self.DEPTH} levels"
            raise ConfigError(
                f"this YAML expands to {too} (anchors and `*aliases` repeat what they name)",
                location=Location(self.path, node.start_mark.line + 1, node.start_mark.column + 1),
                hint="write the values out instead of nesting aliases; a flowdeck file needs nothing this large",
            )


def _masked_excerpt(text: str, line: int, column: int) -> str:
    """``excerpt_of`` for YAML: an error message must not echo the literal password it complains about."""
    from flowdeck.engine.masking import mask_config_line

    return excerpt_of("\n".join(mask_config_line(source) for source in text.splitlines()), line, column)


_constructor = yaml.SafeLoader("")  # only its scalar constructors are used


def _build(node: yaml.Node, at: YamlPath, document: YamlDocument, budget: _Budget) -> Any:
    budget.spend(node, len(at))
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
            result[key] = _build(value_node, child, document, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*at, index), document, budget) for index, item in enumerate(node.value)]
    return _constructor.construct_object(node, deep=True)
