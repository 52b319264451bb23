"""Algorithms from other packages: Python entry points in the group `sparsest.algorithms`.

A package registers a class implementing `algorithms.base.Algorithm` in its own
pyproject.toml:

    [project.entry-points."sparsest.algorithms"]
    my-pruner = "my_package.pruner:MyPruner"

and, once installed beside sparsest, the CLI, specs and TUI use `my-pruner` like a built-in
algorithm (`sparsest algorithms` names the distribution it came from). A plug-in that
cannot be imported, is not an algorithm class or takes a name already in use is skipped
with one line (`set_reporter`) and never stops the rest.

This module imports only the standard library: the CLI sets the reporter without torch.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

GROUP = "sparsest.algorithms"
BUILT_IN = "built-in"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
"""Plug-in names: lower case, digits, '.', '_' and '-' ('+' composes wrappers; ',' lists)."""

_reporter: Callable[[str], None] | None = None


def set_reporter(report: Callable[[str], None] | None) -> None:
    """Where a skipped plug-in's one-line reason goes when the registry loads (None: kept
    in the registry's `errors` only)."""
    global _reporter
    _reporter = report


def report(line: str) -> None:
    if _reporter is not None:
        _reporter(line)


def not_an_algorithm(obj: Any) -> str | None:
    """Why `obj` is not an algorithm class (None when it is one)."""
    from algorithms.base import HyperParameters
    from algorithms.hparams import describe

    if not isinstance(obj, type):
        return f"{type(obj).__name__} object, not a class"
    for attr in ("name", "paper", "summary"):
        if not isinstance(getattr(obj, attr, None), str):
            return f"class {obj.__qualname__} has no str attribute {attr!r}"
    if not NAME.match(obj.name):
        return f"name {obj.name!r} must match {NAME.pattern}"
    params = getattr(obj, "Params", None)
    if not (
        isinstance(params, type)
        and issubclass(params, HyperParameters)
        and dataclasses.is_dataclass(params)
    ):
        return f"class {obj.__qualname__}: Params must be a HyperParameters dataclass"
    if not callable(getattr(obj, "run", None)):
        return f"class {obj.__qualname__} has no run(session, target_nnz) method"
    try:
        describe(params)
        obj(params())
    except Exception as error:
        return f"class {obj.__qualname__} fails with default hyper-parameters: {error}"
    return None


def _distribution(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return str(dist.metadata["Name"]) if dist is not None else "unknown distribution"


def load_plugins(
    taken: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(classes, origins, errors) of the installed plug-ins, by algorithm name.

    `taken`: names already in use (the built-ins). The registry key is the class's `name`;
    the entry point's own name only identifies it in messages. Errors are one line each."""
    classes: dict[str, Any] = {}
    origins: dict[str, str] = {}
    errors: list[str] = []
    try:
        entries = sorted(metadata.entry_points(group=GROUP), key=lambda e: (e.name, e.value))
    except Exception as error:  # a broken installed distribution's metadata
        return classes, origins, [f"plug-ins unavailable: {type(error).__name__}: {error}"]
    for entry in entries:
        origin = _distribution(entry)
        where = f"plug-in {entry.name!r} from {origin} ({entry.value})"
        try:
            obj = entry.load()
        except Exception as error:
            reason = " ".join(f"{type(error).__name__}: {error}".split())
            errors.append(f"{where} skipped: cannot load it: {reason}")
            continue
        reason = not_an_algorithm(obj)
        if reason is None and (obj.name in taken or obj.name in classes):
            owner = BUILT_IN if obj.name in taken else origins[obj.name]
            reason = f"name {obj.name!r} is taken ({owner})"
        if reason is not None:
            errors.append(f"{where} skipped: {reason}")
            continue
        classes[obj.name] = obj
        origins[obj.name] = origin
    return classes, origins, errors
