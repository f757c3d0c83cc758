"""The Python functions a pipeline names (``kind: python`` steps): ``module:function``, found beside the pipeline or installed.

A module is first looked for as a file in the pipeline's folder (``scoring`` is
``pipelines/<name>/scoring.py``, ``lib.scoring`` is ``lib/scoring.py``), loaded afresh each time
so an edited file is picked up by a long-running daemon; otherwise it is imported as an
installed module. What a function declares for Spark is its ``spark`` attribute: a function
taking and returning Spark DataFrames.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowdeck.engine.errors import StepFailed

SPARK_ATTRIBUTE = "spark"


def module_file(folder: Path, module: str) -> Path:
    """Where ``module`` would be as a file of the pipeline's folder."""
    return folder.joinpath(*module.split(".")).with_suffix(".py")


def function_exists(folder: Path, spec: str) -> bool:
    """Whether ``module:function``'s module is a file of ``folder`` or an installed module (nothing is imported)."""
    module = spec.partition(":")[0]
    if module_file(folder, module).is_file():
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def load_function(folder: Path, spec: str, step: str) -> Callable[..., Any]:
    """The function ``module:function`` names, for step ``step``; a ``StepFailed`` saying why when it cannot be had."""
    module_name, _, function_name = spec.partition(":")
    path = module_file(folder, module_name)
    try:
        if path.is_file():
            module = _load_file(path, f"flowdeck_pipeline_{folder.name}.{module_name}")
        else:
            module = importlib.import_module(module_name)
    except StepFailed:
        raise
    except ModuleNotFoundError as error:
        raise StepFailed(f"step `{step}`: no module `{module_name}` ({error})",
                         hint=f"put {path.name} beside pipeline.yaml, or install the package that holds it") from None
    except Exception as error:  # the user's module failed while it was being imported
        raise StepFailed(f"step `{step}`: importing `{module_name}` failed: {type(error).__name__}: {error}",
                         hint=f"fix {path if path.is_file() else module_name}") from None
    function: object = getattr(module, function_name, None)  # object: callable() below narrows it
    if not callable(function):
        raise StepFailed(f"step `{step}`: module `{module_name}` has no function `{function_name}`",
                         hint="check `function:` in pipeline.yaml (module:function)")
    return function


def spark_implementation(function: Callable[..., Any]) -> Callable[..., Any] | None:
    """The Spark implementation ``function`` declares (its ``spark`` attribute), or None."""
    implementation = getattr(function, SPARK_ATTRIBUTE, None)
    return implementation if callable(implementation) else None


def _load_file(path: Path, name: str) -> Any:
    """Execute a module file afresh (a daemon picks up edits), registered while it runs so it can use dataclasses."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
