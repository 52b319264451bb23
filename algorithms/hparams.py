"""Hyper-parameters from `key=value` strings, checked against an algorithm's dataclass.

Typer cannot grow flags per algorithm, so the CLI takes `--hp key=value` and the TUI
builds its forms from `describe`; both go through the field types declared here.
Supported field types: int, float, bool, str, and `X | None` of those ("none" sets None).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from algorithms.base import HyperParameters

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class HyperParameterError(ValueError):
    """A bad `key=value`: unknown name, unreadable value or a malformed item."""


def _field_types(params_cls: type[HyperParameters]) -> dict[str, Any]:
    return typing.get_type_hints(params_cls)


def _base_type(annotation: Any) -> tuple[type, bool]:
    """(the scalar type, whether None is allowed) of `X` or `X | None`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
        raise TypeError(f"unsupported hyper-parameter type {annotation!r}")
    return annotation, False


def type_name(annotation: Any) -> str:
    base, optional = _base_type(annotation)
    return f"{base.__name__} | None" if optional else base.__name__


def convert(annotation: Any, text: str) -> Any:
    """`text` as a value of `annotation` (ValueError when it is not one)."""
    base, optional = _base_type(annotation)
    raw = text.strip()
    if optional and raw.lower() == "none":
        return None
    if base is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if base is int:
        return int(raw)
    if base is float:
        return float(raw)
    if base is str:
        return raw
    raise TypeError(f"unsupported hyper-parameter type {annotation!r}")


def parse_hparams(params_cls: type[HyperParameters], items: Sequence[str]) -> HyperParameters:
    """An instance of `params_cls` with the defaults overridden by `items` ("key=value")."""
    hints = _field_types(params_cls)
    names = [f.name for f in dataclasses.fields(params_cls)]
    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise HyperParameterError(f"expected key=value, got {item!r}")
        if key not in names:
            valid = ", ".join(names) if names else "none"
            raise HyperParameterError(
                f"unknown hyper-parameter {key!r} for {params_cls.__qualname__}; valid: {valid}"
            )
        try:
            values[key] = convert(hints[key], text)
        except ValueError:
            raise HyperParameterError(
                f"hyper-parameter {key}: cannot read {text.strip()!r} as {type_name(hints[key])}"
            ) from None
    try:
        return params_cls(**values)
    except ValueError as error:
        raise HyperParameterError(str(error)) from None


def make_hparams(params_cls: type[HyperParameters], values: Mapping[str, Any]) -> HyperParameters:
    """An instance of `params_cls` from typed values (a spec's TOML table): names and
    types are checked as `parse_hparams` checks text; an int is a fine float (and is
    stored as one, so the run key does not depend on how the number was written)."""
    hints = _field_types(params_cls)
    names = [f.name for f in dataclasses.fields(params_cls)]
    typed: dict[str, Any] = {}
    for key, value in values.items():
        if key not in names:
            valid = ", ".join(names) if names else "none"
            raise HyperParameterError(
                f"unknown hyper-parameter {key!r} for {params_cls.__qualname__}; valid: {valid}"
            )
        base, optional = _base_type(hints[key])
        if value is None and optional:
            typed[key] = None
        elif base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            typed[key] = float(value)
        elif isinstance(value, base) and not (base is int and isinstance(value, bool)):
            typed[key] = value
        else:
            raise HyperParameterError(
                f"hyper-parameter {key}: expected {type_name(hints[key])}, got {value!r}"
            )
    try:
        return params_cls(**typed)
    except ValueError as error:
        raise HyperParameterError(str(error)) from None


def describe(params_cls: type[HyperParameters]) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help) per field, in declaration order."""
    hints = _field_types(params_cls)
    return [
        (f.name, type_name(hints[f.name]), f.default, f.metadata.get("help", ""))
        for f in dataclasses.fields(params_cls)
    ]


def non_default(params: HyperParameters) -> dict[str, Any]:
    """The fields that differ from their defaults (what names a run, as in open_lth)."""
    return {
        f.name: getattr(params, f.name)
        for f in dataclasses.fields(params)
        if getattr(params, f.name) != f.default
    }
