"""Turn a YAML document into a config model, or into errors a person can act on.

This is the one place that translates pydantic's validation errors into flowdeck's words:
the file, line and column, what was expected, and the nearest valid key or value.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
import os
import threading
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, Tag, ValidationError

from flowdeck.engine.errors import ConfigError
from flowdeck.engine.plugins.pluggable import Pluggable
from flowdeck.engine.project.config.fields import TAG
from flowdeck.engine.project.yamlfile import YamlDocument, YamlPath, key_path

M = TypeVar("M", bound=BaseModel)
MAX_REPORTED = 10


def validate_document(document: YamlDocument, model: type[M]) -> M:
    """Validate ``document`` against ``model``; raise one ``ConfigError`` listing every problem."""
    data = document.data if document.data is not None else {}
    if not isinstance(data, dict):
        location = document.location(())
        raise ConfigError(
            f"expected a mapping of keys to values at the top of the file, found {_kind_of(data)}",
            location=location,
            excerpt=document.excerpt(location),
        )
    try:
        with without_pydantic_plugins():
            return model.model_validate(data)
    except ValidationError as error:
        problems = [_explain(document, model, detail) for detail in error.errors()[:MAX_REPORTED]]
        first, *rest = problems
        raise ConfigError(
            first.what, location=first.location, hint=first.hint, excerpt=first.excerpt, also=rest
        ) from None


class _PluginsOff:
    """How many ``without_pydantic_plugins`` are open, across threads, and the variable's value before the first."""

    lock = threading.Lock()
    depth = 0
    previous: str | None = None


@contextmanager
def without_pydantic_plugins() -> Iterator[None]:
    """Build the models' validators (and serializers) without pydantic's plugin discovery.

    The models are built on first use (``defer_build``): when a file is validated, and when a
    model is first dumped (a step's fingerprint); discovering plugins reads every installed
    package's metadata (about 5-15 ms a start) and our config models use none.
    """
    # Threads may nest it (a run takes its fingerprints on a thread of their own while its thread reads the pipelines):
    # the first in sets the variable, the last out puts back what was there, so none leaves it set or unsets it early.
    with _PluginsOff.lock:
        if _PluginsOff.depth == 0:
            _PluginsOff.previous = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = "1"
        _PluginsOff.depth += 1
    try:
        yield
    finally:
        with _PluginsOff.lock:
            _PluginsOff.depth -= 1
            if _PluginsOff.depth == 0:
                if _PluginsOff.previous is None:
                    os.environ.pop("PYDANTIC_DISABLE_PLUGINS", None)
                else:
                    os.environ["PYDANTIC_DISABLE_PLUGINS"] = _PluginsOff.previous


def build_every_validator() -> None:
    """Build every config model's validator and serializer now, not on first use.

    For a process that forks the commands it runs (the CLI's warm server): each fork then validates with
    the validators built once, ~0.04 s of every command. They depend on no project: a plugin's model is
    looked up as a value is validated (``Pluggable``), not when the validators are built.
    """
    import importlib
    import pkgutil

    from flowdeck.engine.project import config
    from flowdeck.engine.project.config.fields import Model

    for module in pkgutil.iter_modules(config.__path__):
        importlib.import_module(f"{config.__name__}.{module.name}")
    pending: list[type[Model]] = [Model]
    with without_pydantic_plugins():
        while pending:
            for model in pending.pop().__subclasses__():
                pending.append(model)
                if not model.__pydantic_complete__:
                    model.model_rebuild()


def _explain(document: YamlDocument, model: type[BaseModel], detail: Any) -> ConfigError:
    path, owner = _yaml_path(document.data, model, detail["loc"])
    kind = detail["type"]
    name = str(path[-1]) if path else ""
    value = detail.get("input")
    hint: str | None = None
    if kind == "extra_forbidden":
        location = document.location(path, key=True)
        what = f"unknown key `{name}`"
        known = _field_names(owner)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else _known_keys_hint(known)
    elif kind == "missing":
        location = replace(document.location(path[:-1]), key=key_path(path))  # shown where it belongs
        what = f"`{name}` is required here but missing"
        hint = f"add `{name}:`" + (f" ({_describe_field(owner, name)})" if _describe_field(owner, name) else "")
    elif kind == "union_tag_invalid":
        location = document.location((*path, "kind"))
        expected = [tag.strip("' ") for tag in str(detail["ctx"]["expected_tags"]).split(",")]
        tag = detail["ctx"]["tag"]
        what = f"unknown step kind `{tag}`; expected one of {', '.join(expected)}"
        close = difflib.get_close_matches(str(tag), expected, n=1)
        hint = f"did you mean `{close[0]}`?" if close else None
    elif kind == "plugin_broken":
        location = document.location(path)
        what = str(detail["msg"])
        hint = "`flowdeck plugins` shows every installed plugin and why a broken one does not load"
    elif kind == "union_tag_not_found":
        location = document.location(path)
        what = "this step has no `kind`"
        hint = "add `kind:` with one of extract, transform, check, load"
    elif kind == "literal_error":
        location = document.location(path)
        expected = [part.strip().strip("'") for part in str(detail["ctx"]["expected"]).replace(" or ", ",").split(",")]
        expected = [choice for choice in expected if choice]
        what = f"`{name}` must be one of {', '.join(expected)}, not {value!r}"
        close = difflib.get_close_matches(str(value), expected, n=1)
        hint = f"did you mean `{close[0]}`?" if close else None
    elif kind == "string_pattern_mismatch" and (detail.get("ctx") or {}).get("pattern") == TAG:
        location = document.location(path)
        what = f"{value!r} is not a valid tag"
        hint = "use letters, digits, _ and - (e.g. daily): no space, comma, `+`, `@` or `:`, which `--select` reads"
    elif kind == "string_pattern_mismatch":
        location = document.location(path)
        listed = len(path) > 1 and isinstance(path[-1], int)  # an item of a list of names: the list's key says what
        what = f"{value!r} is not a valid name for `{path[-2] if listed else name}`"
        hint = "use letters, digits and underscores, not starting with a digit (e.g. daily_sales)"
    else:
        location = document.location(path)
        message = str(detail["msg"]).removeprefix("Value error, ")
        subject = f"`{name}`" if name and not isinstance(path[-1], int) else "this value"
        what = f"{subject}: {message}"
        if kind not in ("value_error", "assertion_error") and value is not None and not isinstance(value, (dict, list)):
            what += f" (got {value!r})"
        described = _describe_field(owner, name) if name and not isinstance(path[-1], int) else None
        hint = f"expected: {described}" if described else None
    return ConfigError(what, location=location, hint=hint, excerpt=document.excerpt(location))


def _yaml_path(data: Any, model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[YamlPath, type[BaseModel] | None]:
    """Drop the union tags pydantic puts in ``loc``; return the path and the model holding its last key."""
    path: list[str | int] = []
    node: Any = data
    annotation: Any = model
    parent: Any = None
    for element in loc:
        if isinstance(node, dict) and element not in node:
            member = _union_member(annotation, element)
            if member is not None:  # a union's tag (a step `kind`, a source's form), not a key
                annotation = member
                continue
        if isinstance(node, dict):
            plugin_model = _plugin_model(annotation, node)
            if plugin_model is not None:  # a plugin's kind carries no tag in `loc`: its value names the model
                annotation = plugin_model
        path.append(element)
        parent = annotation
        annotation = _child_annotation(annotation, element)
        node = node.get(element) if isinstance(node, dict) else (
            node[element] if isinstance(node, list) and isinstance(element, int) and element < len(node) else None
        )
    owner = _strip(parent) if path else model
    return tuple(path), owner if _is_model(owner) else None


def _plugin_model(annotation: Any, value: dict[str, Any]) -> type[BaseModel] | None:
    """The plugin config model a pluggable field's ``value`` names (``kind: http_extract``), or None."""
    while typing.get_origin(annotation) is typing.Annotated:
        marker = next((meta for meta in annotation.__metadata__ if isinstance(meta, Pluggable)), None)
        if marker is not None:
            return marker.model_for(value)
        annotation = typing.get_args(annotation)[0]
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _strip(annotation: Any) -> Any:
    """Unwrap Annotated[...] and Optional[...] down to the interesting type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _child_annotation(annotation: Any, element: Any) -> Any:
    annotation = _strip(annotation)
    # a RootModel: a file that is a mapping of names (SQL tests). Asked by pydantic's own class flag: importing
    # RootModel builds its schema (~7 ms a start) for a branch only an error in a SQL test file takes
    if _is_model(annotation) and annotation.__pydantic_root_model__:
        annotation = _strip(annotation.model_fields["root"].annotation)
    if _is_model(annotation):  # kept Annotated: a pluggable field's marker says which plugin model a value is
        field = annotation.model_fields.get(element)
        return _annotated(field) if field else None
    origin = typing.get_origin(annotation)
    if origin in (list, tuple) and isinstance(element, int):
        return typing.get_args(annotation)[0]
    if origin is dict:
        return typing.get_args(annotation)[1]
    return None


def _annotated(field: Any) -> Any:
    """A model field's annotation with its metadata (pydantic keeps it apart from ``annotation``)."""
    return typing.Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def _union_member(annotation: Any, tag: Any) -> Any:
    """The member of a tagged union that ``tag`` picks (by its ``kind`` literal or its ``Tag``), or None."""
    union = _strip(annotation)
    if typing.get_origin(union) not in (typing.Union, types.UnionType):
        return None
    for member in typing.get_args(union):
        tags = [meta.tag for meta in getattr(member, "__metadata__", ()) if isinstance(meta, Tag)]
        member = _strip(member)
        if not _is_model(member):
            continue
        kind = member.model_fields.get("kind")
        if tag in tags or (kind is not None and tag in typing.get_args(kind.annotation)):
            return member
    return None


def _field_names(owner: type[BaseModel] | None) -> list[str]:
    return list(owner.model_fields) if owner is not None else []


def _describe_field(owner: type[BaseModel] | None, name: str) -> str | None:
    if owner is None or name not in owner.model_fields:
        return None
    return owner.model_fields[name].description


def _known_keys_hint(known: list[str]) -> str | None:
    return f"valid keys here: {', '.join(known)}" if known else None


def _kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"a single value ({value!r})"
