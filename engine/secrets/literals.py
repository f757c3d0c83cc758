"""Finding credentials written literally in YAML, so ``validate`` (and every load) refuses them.

A value is a literal credential when its key names one (``password``, ``pass``, ``pwd``,
``api_key``, ``credentials``, ``*_token``, ``clientsecret``, ``aws_secret_access_key`` ...), when
it is a URL carrying a password (``postgres://u:p@host``), when it carries a credential pair
(``host=db password=x``) or an Authorization value (``Bearer …``), or when it has the shape of a
well-known token. A ``${secret:NAME}`` or ``${env:NAME}`` reference is
never one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flowdeck.engine.errors import ConfigError, Location, excerpt_of
from flowdeck.engine.masking import MASK, URL_PASSWORD, holds_credential_pair, is_sensitive_key, looks_like_token
from flowdeck.engine.project.yamlfile import YamlDocument, YamlPath
from flowdeck.engine.secrets.references import has_reference, malformed_references

# Mappings whose keys are column or parameter names, not settings: `mask: {password: redact}`.
_NAME_KEYED = {"mask"}

HINT = "store it with `flowdeck secrets set NAME` and write `${secret:NAME}` here (or `${env:NAME}`)"


def literal_credentials(document: YamlDocument) -> list[ConfigError]:
    """One error for each credential written in plain text in ``document``."""
    problems: list[ConfigError] = []
    for path, value in _strings(document.data, ()):
        what = _why_literal(path, value)
        if what is None:
            continue
        location = document.location(path)
        problems.append(ConfigError(what, location=location, hint=HINT, excerpt=_hidden(document, location, value)))
    return problems


def literal_param_problem(name: str, value: str) -> str | None:
    """Why a run parameter given on the command line must not be stored as is (``None`` when it may)."""
    return _why_literal(("params", name, "default"), value)


def _why_literal(path: YamlPath, value: str) -> str | None:
    broken = malformed_references(value)
    if broken:
        return f"{broken[0]} is not a valid reference; write ${{secret:NAME}} or ${{env:NAME}}"
    keys = [part for part in path if isinstance(part, str)]
    key = keys[-1] if keys else ""
    if key in ("default", "value") and len(keys) > 1:  # params: {api_key: {default: ...}}
        key = keys[-2]
    if is_sensitive_key(key) and value.strip() and not has_reference(value) and not _under_names(path):
        return f"`{key}` holds a literal credential; credentials never go in YAML"
    match = URL_PASSWORD.search(value)
    if match and not has_reference(match["secret"]):
        return "this URL holds a literal password; credentials never go in YAML"
    if looks_like_token(value):
        return "this value looks like an access token or private key; credentials never go in YAML"
    if holds_credential_pair(value):
        return "this value carries a literal credential (`password=…`, `Bearer …`); credentials never go in YAML"
    return None


def _hidden(document: YamlDocument, location: Location, value: str) -> str:
    """The excerpt of the line holding a literal credential, the value shown as ``***``.

    The line may not say it holds one (`default: hunter2` under a `db_password` parameter), so
    the value is hidden by position: from its column to the end of its line. A URL keeps all
    but its password (the excerpt masks URL passwords on its own).
    """
    if URL_PASSWORD.search(value) or not location.line or not location.column:
        return document.excerpt(location)
    lines = document.text.splitlines()
    lines[location.line - 1] = lines[location.line - 1][: location.column - 1] + MASK
    return excerpt_of("\n".join(lines), location.line, location.column)


def _under_names(path: YamlPath) -> bool:
    return any(part in _NAME_KEYED for part in path[:-1])


def _strings(node: Any, path: YamlPath) -> Iterator[tuple[YamlPath, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))
