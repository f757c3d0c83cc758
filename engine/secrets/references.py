"""``${secret:NAME}`` and ``${env:NAME}`` references: how configuration names a credential without holding it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

SECRET_NAME = r"[A-Za-z_][A-Za-z0-9_.-]{0,127}"
REFERENCE = re.compile(r"\$\{(?P<kind>secret|env):(?P<name>" + SECRET_NAME + r")\}")
_LOOSE = re.compile(r"\$\{(?P<kind>[A-Za-z_]+):(?P<name>[^}]*)\}")
_NAME = re.compile(rf"^{SECRET_NAME}$")


@dataclass(frozen=True)
class Reference:
    """One reference found in a text: its kind (``secret`` or ``env``), name and position."""

    kind: str
    name: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"${{{self.kind}:{self.name}}}"


def references_in(text: str) -> list[Reference]:
    """Every well-formed reference in ``text``, in order."""
    return [Reference(m["kind"], m["name"], m.start(), m.end()) for m in REFERENCE.finditer(text or "")]


def malformed_references(text: str) -> list[str]:
    """Things that look like references but are not valid ones (``${secrte:X}``, ``${secret:}``)."""
    return [m.group(0) for m in _LOOSE.finditer(text or "") if not REFERENCE.fullmatch(m.group(0))]


def has_reference(text: str) -> bool:
    """Whether ``text`` holds at least one reference."""
    return bool(REFERENCE.search(text or ""))


def is_valid_name(name: str) -> bool:
    """Whether ``name`` can name a secret: letters, digits, ``_ . -``, not starting with a digit."""
    return bool(_NAME.match(name))


def substitute(text: str, lookup: Callable[[Reference], str]) -> str:
    """``text`` with each reference replaced by ``lookup(reference)``."""
    parts: list[str] = []
    position = 0
    for reference in references_in(text):
        parts.append(text[position:reference.start])
        parts.append(lookup(reference))
        position = reference.end
    parts.append(text[position:])
    return "".join(parts)
