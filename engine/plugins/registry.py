"""One registry a plugin group: the declarations installed packages name in their entry points.

A registry discovers its group once, on first use (reading installed packages' metadata costs
about 10 ms, so nothing asks unless a name is not built in, or the list is wanted). A plugin
that cannot be imported, names the wrong kind of object, clashes with a built-in or another
plugin, or whose config model does not carry its name, is kept as broken with the reason:
flowdeck reports it (``flowdeck plugins``, ``flowdeck doctor``, and the error of a config that
uses it) and never lets it crash a command.
"""

from __future__ import annotations

import re
import threading
import typing
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from flowdeck.engine.plugins.declare import BackendKind, ChannelKind, ConnectorKind, StepKind

D = TypeVar("D", StepKind, ConnectorKind, ChannelKind, BackendKind)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class PluginInfo:
    """One entry point of a group: where it comes from, and why it is broken (``error``) if it is."""

    group: str
    name: str
    target: str  # the entry point's value, ``module:attribute``
    distribution: str | None
    version: str | None
    error: str | None = None
    description: str = ""

    @property
    def ok(self) -> bool:
        """Whether the plugin loaded and declared what its group needs."""
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """The plugin as ``flowdeck plugins --json`` prints it."""
        return {"group": self.group, "name": self.name, "target": self.target, "distribution": self.distribution,
                "version": self.version, "ok": self.ok, "error": self.error, "description": self.description}


class Registry(Generic[D]):
    """The plugins of one entry point group, keyed by the name they declare."""

    def __init__(self, group: str, declaration: type[D], key: str, name_field: str, builtin: tuple[str, ...]) -> None:
        self.group = group
        self.declaration: type[D] = declaration
        self.key = key  # the config model's field holding the name: kind or type
        self.name_field = name_field  # the declaration's attribute holding the name
        self.builtin = builtin
        self._lock = threading.Lock()
        self._found: dict[str, D] | None = None
        self._infos: list[PluginInfo] = []

    def _discover(self) -> dict[str, D]:
        with self._lock:
            if self._found is None:
                found: dict[str, D] = {}
                infos: list[PluginInfo] = []
                for entry in sorted(metadata.entry_points(group=self.group), key=lambda e: (e.name, e.value)):
                    declared, info = self._load(entry, found)
                    if declared is not None:
                        found[entry.name] = declared
                    infos.append(info)
                self._infos, self._found = infos, found
            return self._found

    def _load(self, entry: metadata.EntryPoint, found: dict[str, D]) -> tuple[D | None, PluginInfo]:
        dist = getattr(entry, "dist", None)
        info = PluginInfo(group=self.group, name=entry.name, target=entry.value,
                          distribution=dist.name if dist is not None else None,
                          version=dist.version if dist is not None else None)
        try:
            declared = entry.load()
        except BaseException as error:  # noqa: BLE001 - a plugin's import may raise anything; it must not crash flowdeck
            if isinstance(error, KeyboardInterrupt):
                raise
            return None, _broken(info, f"cannot be imported: {type(error).__name__}: {_first_line(error)}")
        problem = self._problem(entry.name, declared, found)
        if problem is not None:
            return None, _broken(info, problem)
        summary = (declared.config.__doc__ or "").strip().splitlines()
        return declared, replace(info, description=declared.description or (summary[0] if summary else ""))

    def _problem(self, name: str, declared: Any, found: dict[str, D]) -> str | None:
        """Why ``declared`` cannot be this group's plugin ``name``, or None."""
        if not isinstance(declared, self.declaration):
            return (f"names a {type(declared).__name__}, not a flowdeck.engine.plugins.declare.{self.declaration.__name__}")
        own = getattr(declared, self.name_field)
        if own != name:
            return f"declares {self.name_field} `{own}` but its entry point is named `{name}`"
        if not _NAME.match(name):
            return f"`{name}` is not a valid name (letters, digits and _, not starting with a digit)"
        if name in self.builtin:
            return f"`{name}` is built into flowdeck; a plugin cannot replace it"
        if name in found:
            return f"`{name}` is also declared by another plugin ({self.get_info(name)})"
        config = declared.config
        if not (isinstance(config, type) and issubclass(config, BaseModel)):
            return "its `config` is not a pydantic model class"
        if self.key:
            field = config.model_fields.get(self.key)
            if field is None or typing.get_args(field.annotation) != (name,):
                return f"its config model {config.__name__} needs `{self.key}: Literal[\"{name}\"]`"
        return None

    def get_info(self, name: str) -> str:
        """Which distribution provides plugin ``name`` (for messages)."""
        for info in self._infos:
            if info.name == name and info.ok:
                return f"{info.distribution} {info.version}"
        return "another package"

    def get(self, name: str) -> D | None:
        """The plugin declaring ``name``, or None (built-in names are never plugins)."""
        if name in self.builtin:
            return None
        return self._discover().get(name)

    def declarations(self) -> dict[str, D]:
        """Every working plugin of the group, by name."""
        return dict(self._discover())

    def names(self) -> list[str]:
        """The built-in names, then the plugins' names."""
        return [*self.builtin, *sorted(self._discover())]

    def infos(self) -> list[PluginInfo]:
        """Every entry point of the group, working or broken."""
        self._discover()
        return list(self._infos)

    def broken(self, name: str) -> PluginInfo | None:
        """The broken plugin that would have declared ``name``, if there is one."""
        return next((info for info in self.infos() if info.name == name and not info.ok), None)

    def forget(self) -> None:
        """Discover again on next use (after installing a package in this process)."""
        with self._lock:
            self._found = None
            self._infos = []


def _broken(info: PluginInfo, reason: str) -> PluginInfo:
    from flowdeck.engine.masking import mask  # a plugin's error may quote a secret it was handed

    return replace(info, error=mask(reason))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no message"


# The names each group builds in; tests/unit/test_plugins.py holds them to the config models' own lists.
STEP_KINDS_BUILTIN = ("extract", "transform", "check", "load", "python")
CONNECTORS_BUILTIN = ("postgresql", "sqlite")
CHANNELS_BUILTIN = ("email", "slack", "webhook", "sms", "console")
BACKENDS_BUILTIN = ("duckdb", "spark")

step_kinds: Registry[StepKind] = Registry("flowdeck.step_kinds", StepKind, "kind", "kind", STEP_KINDS_BUILTIN)
connectors: Registry[ConnectorKind] = Registry("flowdeck.connectors", ConnectorKind, "type", "type", CONNECTORS_BUILTIN)
channels: Registry[ChannelKind] = Registry("flowdeck.channels", ChannelKind, "type", "type", CHANNELS_BUILTIN)
backends: Registry[BackendKind] = Registry("flowdeck.backends", BackendKind, "", "name", BACKENDS_BUILTIN)
REGISTRIES: tuple[Registry[Any], ...] = (step_kinds, connectors, channels, backends)
