"""Secrets: where they are stored, how configuration refers to them, and how references resolve.

The API other parts of flowdeck use (database connections, alert channels, encryption keys):

- ``resolve(text, project)``: replace every ``${secret:NAME}`` and ``${env:NAME}`` in ``text``
  by its value and register each value with the masker, so it is masked everywhere from then
  on. Raises ``SecretsError`` (with where it looked and what to do) for a missing one.
- ``has_reference(text)``: whether a configuration value refers to a secret.
- ``open_store(project)``: the store ``flowdeck secrets set`` writes to.

Resolve as late as possible (just before connecting or sending) and never store a resolved
value: keep the reference in configuration, the ledger and anything hashed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from flowdeck.engine.masking import register_secret
from flowdeck.engine.secrets.filekeyring import SecretsError
from flowdeck.engine.secrets.references import Reference, has_reference, references_in, substitute
from flowdeck.engine.secrets.store import SETUP_HINT, lookup, open_store

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project

__all__ = ["SETUP_HINT", "SecretsError", "has_reference", "open_store", "references_in", "resolve", "resolve_values"]


def resolve(text: str, project: Project) -> str:
    """``text`` with its ``${secret:NAME}`` and ``${env:NAME}`` references replaced by their values."""

    def value_of(reference: Reference) -> str:
        if reference.kind == "env":
            value = os.environ.get(reference.name)
            if value is None:
                raise SecretsError(f"environment variable `{reference.name}` is not set (referenced as {reference})",
                                   hint=f"export {reference.name}=... before running flowdeck")
        else:
            value = lookup(project, reference.name)
        if not register_secret(value) and value:
            _warn_unmaskable(str(reference))
        return value

    return substitute(text, value_of)


_warned: set[str] = set()


def _warn_unmaskable(reference: str) -> None:
    """Say once per process that a secret is too short to be masked (it was not refused: it came from
    the environment or a systemd credential, or was stored with --allow-short)."""
    if reference in _warned:
        return
    _warned.add(reference)
    import logging

    from flowdeck.engine.masking import MIN_SECRET_LENGTH

    logging.getLogger("flowdeck.secrets").warning(
        "%s is shorter than %d characters, so it cannot be masked: it will appear in clear wherever it is "
        "printed or logged; use a longer secret", reference, MIN_SECRET_LENGTH)


def resolve_values(values: dict[str, Any], project: Project) -> dict[str, Any]:
    """A copy of ``values`` with references in its string values resolved (run parameters)."""
    return {key: resolve(value, project) if isinstance(value, str) and has_reference(value) else value
            for key, value in values.items()}
