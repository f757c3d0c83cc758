"""Typed models of flowdeck.yaml and pipeline.yaml, one module a section, with a default for everything optional.

These models are the single definition of the configuration: validation, the JSON Schema
printed by ``flowdeck schema`` and the configuration reference in docs/ all come from them.
Import each name from the module that defines it: ``project`` (flowdeck.yaml) and ``pipeline``
(pipeline.yaml) at the top, the sections below them, and ``fields`` for the shared field types.
"""
