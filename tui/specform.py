"""The sweep builder's form as plain data: text fields in, a spec table (TOML-ready) out.

No Textual here, so the parsing rules are tested without an app. Each field parses on
its own and fails with a one-line reason; the assembled table then goes through the
harness's own validation (harness.sweeps.spec_file), whose SpecError names the spec key
at fault; `field_for_error` maps that key back to the field that caused it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import tomli_w

from harness.errors import SpecError

INT_FIELDS = ("epochs", "seeds", "population", "search_max_width")
INT_LIST_FIELDS = ("widths", "nnz")
FLOAT_LIST_FIELDS = ("lrs", "targets", "search_lrs")

KEY_TO_FIELD: dict[str, str] = {
    "name": "name",
    "dataset": "dataset",
    "epochs": "epochs",
    "seeds": "seeds",
    "lrs": "lrs",
    "schedules": "schedules",
    "targets": "targets",
    "population": "population",
    "device": "device",
    "executor": "executor",
    "address": "address",
    "search.max_width": "search_max_width",
    "search.init": "search_init",
    "search.lrs": "search_lrs",
    "prune.algorithms": "algorithms",
    "prune.widths": "widths",
    "prune.nnz": "nnz",
    "prune.init": "prune_init",
}
"""Spec key (SpecError.key, as harness.sweeps.spec_file names it) -> builder field."""


class FieldError(ValueError):
    """A field's text does not parse; the message is the reason, one line."""


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[,\s]+", text.strip()) if t]


def parse_int_list(text: str) -> list[int]:
    """'15-26, 30' -> [15, 16, ..., 26, 30]: whole numbers and inclusive ranges."""
    values: list[int] = []
    for token in _tokens(text):
        low, dash, high = token.partition("-")
        try:
            start, stop = (int(low), int(high)) if dash else (int(token), int(token))
        except ValueError:
            raise FieldError(f"{token!r} is not a whole number or a range like 15-26") from None
        if stop < start:
            raise FieldError(f"range {token} runs backwards")
        values.extend(range(start, stop + 1))
    if not values:
        raise FieldError("needs at least one value")
    return list(dict.fromkeys(values))


def parse_float_list(text: str) -> list[float]:
    """'0.05, 0.1' -> [0.05, 0.1]."""
    values: list[float] = []
    for token in _tokens(text):
        try:
            values.append(float(token))
        except ValueError:
            raise FieldError(f"{token!r} is not a number") from None
    if not values:
        raise FieldError("needs at least one value")
    return list(dict.fromkeys(values))


def parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise FieldError(f"{text.strip()!r} is not a whole number") from None


def format_ints(values: Iterable[int]) -> str:
    """[15, 16, ..., 26, 30] -> '15-26, 30' (runs of three or more become ranges)."""
    items = sorted(dict.fromkeys(int(v) for v in values))
    parts: list[str] = []
    start = 0
    while start < len(items):
        stop = start
        while stop + 1 < len(items) and items[stop + 1] == items[stop] + 1:
            stop += 1
        if stop - start >= 2:
            parts.append(f"{items[start]}-{items[stop]}")
        else:
            parts.extend(str(v) for v in items[start : stop + 1])
        start = stop + 1
    return ", ".join(parts)


def format_floats(values: Iterable[float]) -> str:
    return ", ".join(f"{v:g}" for v in values)


@dataclass
class FormState:
    """What the builder's widgets hold. `base` keeps the spec keys the form does not
    show (hparams, include, phase2_lrs, ...) so a preset round-trips unchanged."""

    name: str = "sweep"
    dataset: str = "cubist-spiral"
    phase1: bool = False
    phase2: bool = False
    search_max_width: str = "16"
    search_lrs: str = "0.05, 0.1"
    search_init: str = "random"
    algorithms: list[str] = field(default_factory=list)
    widths: str = "3"
    nnz: str = "15, 20, 26"
    prune_init: str = "random"
    from_search: bool = False
    lrs: str = "0.05, 0.1, 0.2"
    schedules: list[str] = field(default_factory=lambda: ["cosine", "multistep", "constant"])
    epochs: str = "50"
    seeds: str = "1"
    targets: str = "0.95, 0.995"
    device: str = "auto"
    executor: str = "local"
    address: str = ""
    population: str = "512"
    base: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> FormState:
        """A spec table (a parsed preset or stored sweep) as form values."""
        table = json.loads(json.dumps(table))
        search = table.get("search") or {}
        prune = table.get("prune") or {}
        state = cls(base=table)
        state.name = str(table.get("name", state.name))
        state.dataset = str(table.get("dataset", state.dataset))
        state.phase1 = bool(search.get("phase1", True)) if search else False
        state.phase2 = bool(search.get("phase2", True)) if search else False
        state.search_max_width = str(search.get("max_width", 16))
        state.search_lrs = format_floats(search.get("lrs", (0.05, 0.1)))
        state.search_init = str(search.get("init", "random"))
        state.algorithms = list(prune.get("algorithms", []))
        state.widths = format_ints(prune.get("widths", (3,)))
        state.nnz = format_ints(prune.get("nnz", (15, 20, 26)))
        state.prune_init = str(prune.get("init", "random"))
        state.from_search = bool(prune.get("from_search", False))
        for key in ("lrs", "targets"):
            if key in table:
                setattr(state, key, format_floats(table[key]))
        if "schedules" in table:
            state.schedules = list(table["schedules"])
        for key in ("epochs", "seeds", "population"):
            if key in table:
                setattr(state, key, str(table[key]))
        state.device = str(table.get("device", state.device))
        state.executor = str(table.get("executor", state.executor))
        state.address = str(table.get("address", state.address))
        return state


def build_table(state: FormState) -> tuple[dict[str, Any], dict[str, str]]:
    """The spec table the form describes, and {field: reason} for fields that do not
    parse (those keep the base table's value, so the rest can still be checked)."""
    errors: dict[str, str] = {}

    def parsed(name: str, parse: Any) -> Any:
        try:
            return parse(getattr(state, name))
        except FieldError as error:
            errors[name] = str(error)
            return None

    table = {k: v for k, v in state.base.items() if k not in ("search", "prune")}
    table["name"] = state.name.strip() or "sweep"
    if not re.fullmatch(r"[\w.+-]+", table["name"]):
        errors["name"] = "use letters, digits, '.', '-', '_' or '+' only"
    table["dataset"] = state.dataset
    table["device"] = state.device
    table.pop("executor", None)
    table.pop("address", None)
    if state.executor != "local":
        table["executor"] = state.executor
    if state.address.strip():
        table["address"] = state.address.strip()
    table["schedules"] = list(state.schedules)
    if not state.schedules:
        errors["schedules"] = "pick at least one schedule"
    for name in ("epochs", "seeds", "population"):
        value = parsed(name, parse_int)
        if value is not None:
            table[name] = value
    for name in ("lrs", "targets"):
        value = parsed(name, parse_float_list)
        if value is not None:
            table[name] = value
    if state.phase1 or state.phase2:
        search = dict(state.base.get("search") or {})
        search.update(phase1=state.phase1, phase2=state.phase2, init=state.search_init)
        width = parsed("search_max_width", parse_int)
        lrs = parsed("search_lrs", parse_float_list)
        if width is not None:
            search["max_width"] = width
        if lrs is not None:
            search["lrs"] = lrs
        table["search"] = search
    if state.algorithms:
        prune = dict(state.base.get("prune") or {})
        prune.update(algorithms=list(state.algorithms), init=state.prune_init)
        prune["from_search"] = state.from_search
        widths = [] if state.from_search else parsed("widths", parse_int_list)
        nnz = parsed("nnz", parse_int_list)
        if widths is not None:
            prune["widths"] = widths
        if nnz is not None:
            prune["nnz"] = nnz
        table["prune"] = prune
        if state.from_search and "search" not in table:
            errors["phases"] = "pruning from the search needs search phase 1"
    if "search" not in table and "prune" not in table and not table.get("include"):
        errors["phases"] = "choose a search phase or at least one algorithm"
    return table, errors


def nnz_warning(widths: Iterable[int], nnz: Iterable[int]) -> str | None:
    """Targets no width can be pruned to (at least one weight per layer, fewer than
    all): the harness skips them, so say which before a launch."""
    totals = [2 * w + 2 * w * w + w for w in widths]
    if not totals:
        return None
    skipped = [n for n in nnz if not any(4 <= n < t for t in totals)]
    if not skipped:
        return None
    return f"skipped (no width takes them; widest has {max(totals)} weights): " + format_ints(
        skipped
    )


def field_for_error(error: SpecError) -> tuple[str | None, str]:
    """A harness spec error as (builder field or None, the reason to show there).

    A key the form has a field for: that field and the bare reason. Any other key (one
    the form does not show, an unknown one): no field, and the reason names the key.
    No key (the TOML itself is malformed): no field, the reason alone."""
    field_name = KEY_TO_FIELD.get(error.key)
    if field_name is not None:
        return field_name, error.reason
    return None, f"{error.key}: {error.reason}" if error.key else error.reason


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_toml(table: Mapping[str, Any]) -> str:
    """A spec table as TOML; None (TOML has no null) means 'the default' and is left out."""
    return tomli_w.dumps(_clean(table))


def stored_spec_toml(spec_json: str) -> str:
    """A sweep's stored spec (JSON of the SweepSpec, as `sweeps.spec` holds it) as TOML,
    so a sweep can be run again: its run keys make the rerun finish only what is missing."""
    table = json.loads(spec_json)
    if not isinstance(table, dict):
        raise ValueError("stored sweep spec is not a JSON object")
    return to_toml(table)
