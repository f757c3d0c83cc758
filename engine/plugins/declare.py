"""What a plugin declares: its name, its config model (pydantic) and the functions that do its work.

A plugin package names one of these objects in an entry point of its group, e.g. in its
pyproject.toml::

    [project.entry-points."flowdeck.step_kinds"]
    http_extract = "flowdeck_http_extract:step_kind"

The config model is what the user writes in YAML: ``validate`` checks it, ``flowdeck schema``
and the configuration reference show it. Its discriminating field (``kind`` for a step kind,
``type`` for a connector or a channel) is a ``Literal`` of the declared name. Imports of heavy
libraries belong inside the functions: flowdeck loads a plugin's module to learn its config.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class StepKind:
    """A step kind (group ``flowdeck.step_kinds``).

    - ``config``: a subclass of ``flowdeck.engine.project.config.steps.StepBase`` (of
      ``PublishingStep`` when the step publishes a table: it then publishes ``output``, or its name)
      with ``kind: Literal["<kind>"]``;
    - ``run(context, step, config) -> StepResult``: stage, check and publish through the
      ``Backend`` (``context.backend``) and ``engine.steps.publish.publish_checked``, as the
      built-in kinds do (``engine/steps/``);
    - ``reads(config) -> set[str]``: the warehouse tables the step reads (edges of the DAG);
    - ``engines``: the backends it runs on; others refuse it before the run starts.
    """

    kind: str
    config: type[BaseModel]
    run: Callable[..., Any]
    reads: Callable[[Any], set[str]] | None = None
    engines: tuple[str, ...] = ("duckdb",)
    description: str = ""


@dataclass(frozen=True)
class ConnectorKind:
    """A database connector (group ``flowdeck.connectors``), a ``type`` of ``connections:``.

    - ``config``: a model with ``type: Literal["<type>"]`` (and what the database needs: a URI,
      a user, a ``SecretReference`` password);
    - ``dialect``: an ``engine.connectors.dialects.Dialect`` saying how this database's SQL looks;
    - ``connect(project, config) -> dbapi``: an open DB-API connection speaking Arrow (an ADBC
      driver's ``dbapi.connect``), autocommit off; credentials resolved with
      ``engine.secrets.resolve`` so the masker knows them;
    - ``describe(project, config) -> str``: where it points, fit to show (never a password).
    """

    type: str
    config: builtins.type[BaseModel]  # builtins.: the field `type` above shadows the builtin here
    dialect: Any
    connect: Callable[..., Any]
    describe: Callable[..., str] | None = None
    description: str = ""


@dataclass(frozen=True)
class ChannelKind:
    """An alert channel (group ``flowdeck.channels``), a ``type`` of ``alerts.channels``.

    - ``config``: a model with ``type: Literal["<type>"]`` and the channel's settings;
    - ``deliver(name, channel, message, project) -> None``: send an ``engine.alerts.channels.Message``;
      raise ``engine.alerts.channels.DeliveryError`` (``retryable=False`` when trying again
      cannot help) when the service does not take it. The outbox retries and de-duplicates.
    """

    type: str
    config: builtins.type[BaseModel]  # builtins.: the field `type` above shadows the builtin here
    deliver: Callable[..., None]
    description: str = ""


@dataclass(frozen=True)
class BackendKind:
    """A backend (group ``flowdeck.backends``), a value of the project's ``engine:``.

    - ``config``: the model of its settings, written under ``backends.<name>:`` in flowdeck.yaml;
    - ``open(project, settings, purpose) -> Backend``: an ``engine.backends.base.Backend``;
      ``purpose`` is ``run``, ``read`` or ``maintain``.
    """

    name: str
    config: type[BaseModel]
    open: Callable[..., Any]
    description: str = ""
