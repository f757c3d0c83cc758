"""The config models' hook for plugins: a field whose type the built-in models give, widened by a registry.

``Annotated[<built-in model or union>, Pluggable(registry, what)]`` validates a value whose
``kind`` (or ``type``) is built in exactly as before, and any other value with the config model
of the plugin declaring that name; so ``validate`` checks a plugin's settings, with the same
file, line and column, as it checks the built-in ones. ``flowdeck schema`` (and through it the
configuration reference) lists the plugins' models beside the built-in ones. The registry is
asked only when a value names something not built in, or when the schema is printed.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from flowdeck.engine.plugins.registry import Registry

PLUGIN_BROKEN = "plugin_broken"


class Pluggable:
    """Marks a config field whose ``key`` names a built-in or a plugin of ``registry``.

    ``what`` names the thing in messages ("step kind", "connection type"); ``base`` is the
    model every plugin's config must extend (``StepBase`` for a step kind); ``tagged`` says the
    built-in type is a tagged union (a wrong name is then a ``union_tag_invalid``, else a
    ``literal_error`` on ``key``, as pydantic reports each).
    """

    def __init__(self, registry: Registry[Any], what: str, *, base: type[BaseModel] | None = None,
                 tagged: bool = False) -> None:
        self.registry = registry
        self.what = what
        self.base = base
        self.tagged = tagged

    @property
    def key(self) -> str:
        """The field naming the kind or type (``kind``, ``type``)."""
        return self.registry.key

    def model_for(self, value: Any) -> type[BaseModel] | None:
        """The plugin config model ``value`` names, or None (built in, unknown or broken)."""
        name = value.get(self.key) if isinstance(value, dict) else getattr(value, self.key, None)
        if not isinstance(name, str) or name in self.registry.builtin:
            return None
        declared = self.registry.get(name)
        return declared.config if declared is not None and self._fits(declared.config) else None

    def _fits(self, config: type[BaseModel]) -> bool:
        return self.base is None or issubclass(config, self.base)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        built_in = handler(source)

        def choose(value: Any, validate_built_in: core_schema.ValidatorFunctionWrapHandler) -> Any:
            name = value.get(self.key) if isinstance(value, dict) else None
            if not isinstance(name, str) or name in self.registry.builtin:
                return validate_built_in(value)
            declared = self.registry.get(name)
            if declared is None:
                return self._unknown(name, value, validate_built_in)
            if not self._fits(declared.config):
                raise _error(value, (self.key,), PLUGIN_BROKEN,
                             f"{self.what} `{name}` comes from a plugin whose config model does not extend "
                             f"{self.base.__name__ if self.base else 'the built-in base'}")
            return declared.config.model_validate(value)

        return core_schema.no_info_wrap_validator_function(choose, built_in)

    def _unknown(self, name: str, value: Any, validate_built_in: core_schema.ValidatorFunctionWrapHandler) -> Any:
        broken = self.registry.broken(name)
        if broken is not None:
            where = f"{broken.distribution} {broken.version}" if broken.distribution else broken.target
            raise _error(value, (self.key,), PLUGIN_BROKEN,
                         f"{self.what} `{name}` comes from the plugin {where}, which is broken: {broken.error}")
        if not self.registry.declarations():
            return validate_built_in(value)  # nothing installed: the built-in models say it as always
        expected = ", ".join(repr(known) for known in self.registry.names())
        if self.tagged:
            raise _error(value, (), "union_tag_invalid", "unknown {what} {tag}",
                         {"what": self.what, "discriminator": repr(self.key), "tag": name, "expected_tags": expected})
        raise _error(value, (self.key,), "literal_error", "Input should be {expected}", {"expected": expected})

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> Any:
        json_schema = handler(schema)
        plugins = [declared.config for declared in self.registry.declarations().values() if self._fits(declared.config)]
        if not plugins:
            return json_schema
        generator = getattr(handler, "generate_json_schema", None)  # the generator itself puts models in $defs
        generate = generator.generate_inner if generator is not None else handler
        forms = {model: generate(_core_schema(model)) for model in plugins}
        widened: dict[str, Any] = dict(json_schema) if "oneOf" in json_schema else {"oneOf": [json_schema]}
        widened["oneOf"] = [*widened["oneOf"], *forms.values()]
        if "discriminator" in widened:  # the tagged union's map of names to models gets the plugins too
            mapping = dict(widened["discriminator"].get("mapping", {}))
            for model, form in forms.items():
                mapping[typing.get_args(model.model_fields[self.key].annotation)[0]] = form.get("$ref", "")
            widened["discriminator"] = {**widened["discriminator"], "mapping": mapping}
        return widened


def _core_schema(model: type[BaseModel]) -> core_schema.CoreSchema:
    """A model's core schema, built now if it was deferred."""
    model.model_rebuild()
    return model.__pydantic_core_schema__


def _error(value: Any, loc: tuple[str | int, ...], kind: str, message: str,
           context: dict[str, Any] | None = None) -> ValidationError:
    """A validation error at ``loc`` (relative to the value) that validation.py words like pydantic's own."""
    detail: InitErrorDetails = {"type": PydanticCustomError(kind, message, context), "loc": loc, "input": value}
    return ValidationError.from_exception_data("plugin", [detail])
