"""The plugin registries: their built-in names are the config models' own, and what they refuse."""

from __future__ import annotations

import typing

from flowdeck.engine.plugins import registry
from flowdeck.engine.project.config.alerts import CHANNEL_TYPES
from flowdeck.engine.project.config.connections import ConnectionConfig
from flowdeck.engine.project.config.project import ProjectConfig
from flowdeck.engine.project.config.steps import STEP_KINDS
from flowdeck.engine.steps.dispatch import BUILT_IN


def test_each_registry_knows_exactly_the_names_flowdeck_builds_in() -> None:
    assert registry.step_kinds.builtin == STEP_KINDS == tuple(BUILT_IN)
    assert registry.channels.builtin == CHANNEL_TYPES
    assert registry.connectors.builtin == typing.get_args(ConnectionConfig.model_fields["type"].annotation)
    assert set(registry.backends.builtin) == set(typing.get_args(ProjectConfig.model_fields["engine"].annotation))


def test_a_plugin_cannot_take_a_built_in_name_or_declare_another() -> None:
    from pydantic import BaseModel

    from flowdeck.engine.plugins.declare import StepKind

    class Extract(BaseModel):
        kind: typing.Literal["extract"]

    taken = registry.step_kinds._problem("extract", StepKind(kind="extract", config=Extract, run=print), {})
    assert taken == "`extract` is built into flowdeck; a plugin cannot replace it"
    other = registry.step_kinds._problem("scrape", StepKind(kind="extract", config=Extract, run=print), {})
    assert other == "declares kind `extract` but its entry point is named `scrape`"
    wrong = registry.step_kinds._problem("scrape", StepKind(kind="scrape", config=Extract, run=print), {})
    assert wrong == 'its config model Extract needs `kind: Literal["scrape"]`'
