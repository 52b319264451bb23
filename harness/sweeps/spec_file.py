"""Sweep specifications: a TOML file (or a named preset) that says what to run.

A spec has top-level training settings, an optional [search] table (phases 1 and 2 of
the combinatorial search) and an optional [prune] table (algorithms x widths x weight
nnz targets). Every field is validated here, so a bad spec fails before any training,
with the offending key (and its line) in a one-line message.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from harness.errors import SpecError, UserError
from harness.training.datasets import DATASETS
from harness.training.run_spec import INIT_MODES, PRUNE_INIT_MODES, is_seed
from harness.training.schedules import SCHEDULES


@dataclass(frozen=True)
class SearchSpec:
    """The combinatorial search (PAPER.md): phase 1 structures, phase 2 masks."""

    phase1: bool = True
    phase2: bool = True
    max_width: int = field(default=16, metadata={"help": "Phase 1 widths 1..max_width."})
    structure: tuple[int, ...] | None = field(
        default=None, metadata={"help": "Phase 2 structure; None: phase 1's minimum."}
    )
    init: str = field(
        default="random",
        metadata={
            "help": "random (the reference's: a fresh 16-wide network per run, cut to the "
            "structure), random-own-width (drawn at the structure's own widths) or fixed."
        },
    )
    fixed_network: str | int | None = field(
        default=None,
        metadata={
            "help": "With init fixed: paper-95 / paper-995 (the paper's networks), a seed, "
            "or a path to an .npz of their layout; none: one seeded network per seed."
        },
    )
    fixed_networks: tuple[str | int, ...] | None = field(
        default=None,
        metadata={
            "help": "With init fixed: run this part once per fixed network (luck over "
            "initialisations: each network is its own study in the store's views)."
        },
    )
    lrs: tuple[float, ...] = (0.05, 0.1)
    phase2_lrs: tuple[float, ...] | None = None
    phase2_nnz: tuple[int, ...] | None = field(
        default=None,
        metadata={"help": "Phase 2 weight nnz per hidden weight matrix; 0 means every nnz."},
    )
    max_masks: int = 10_000_000
    symmetry: str = field(
        default="layer",
        metadata={
            "help": "Phase 2 masks: layer (the paper's, one per output-neuron permutation of "
            "each layer) or joint (one per network up to any hidden-neuron permutation; the "
            "same networks, fewer trainings)."
        },
    )


@dataclass(frozen=True)
class PruneSpec:
    """Pruning runs: every algorithm x width x weight-nnz target (below the width's total)."""

    algorithms: tuple[str, ...] = ()
    widths: tuple[int, ...] = (3,)
    nnz: tuple[int, ...] = (15, 20, 26)
    init: str = "random"
    fixed_network: str | int | None = field(
        default=None,
        metadata={"help": "With init fixed: as search.fixed_network (default: the search's)."},
    )
    from_search: bool = field(
        default=False,
        metadata={"help": "Start from the search's minimal structure and its fixed init."},
    )
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSpec:
    name: str = "sweep"
    dataset: str = "cubist-spiral"
    holdout: float = 0.0
    epochs: int = 50
    lrs: tuple[float, ...] = (0.05, 0.1, 0.2)
    schedules: tuple[str, ...] = SCHEDULES
    seeds: int = 1
    targets: tuple[float, ...] = (0.95, 0.995)
    device: str = "auto"
    engine: str = "auto"
    population: int = 512
    search: SearchSpec | None = None
    prune: PruneSpec | None = None
    include: tuple[str, ...] = field(
        default=(), metadata={"help": "Presets or spec files run before this one."}
    )


def _line_of(text: str, key: str) -> int | None:
    """The first line that sets `key` (its last dotted part), or None."""
    name = key.split(".")[-1]
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith(name):
            return number
    return None


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a field's type (lists already made tuples; an int is a
    fine float, a bool is not a number)."""
    if hint is Any:
        return True
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):
        return any(_conforms(value, arg) for arg in args if arg is not type(None))
    if origin is tuple:
        return isinstance(value, tuple) and all(_conforms(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _describe(hint: Any) -> str:
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) in (Union, UnionType):
        return _describe(args[0])
    if get_origin(hint) is tuple:
        return f"a list of {_describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
    return _TYPE_NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def _build(cls: type, table: dict[str, Any], where: str, text: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise SpecError(
                f"{where}{key}",
                _line_of(text, key),
                f"unknown key; valid keys: {', '.join(known)}",
            )
        if isinstance(value, list):
            value = tuple(value)
        if not _conforms(value, hints[key]):
            raise SpecError(
                f"{where}{key}",
                _line_of(text, key),
                f"expected {_describe(hints[key])}, "
                f"got {list(value) if isinstance(value, tuple) else value!r}",
            )
        values[key] = value
    return cls(**values)


def parse_spec(text: str, source: str = "spec") -> SweepSpec:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = getattr(error, "lineno", None)  # Python 3.14+
        raise SpecError("", line, f"malformed TOML: {error}", source) from None
    search = raw.pop("search", None)
    prune = raw.pop("prune", None)
    spec = _build(SweepSpec, raw, "", text)
    search_spec = _build(SearchSpec, search, "search.", text) if search is not None else None
    prune_spec = _build(PruneSpec, prune, "prune.", text) if prune is not None else None
    if prune_spec is not None and prune_spec.algorithms == ("all",):
        from algorithms.registry import ALGORITHMS

        prune_spec = PruneSpec(**{**prune_spec.__dict__, "algorithms": tuple(ALGORITHMS)})
    spec = SweepSpec(**{**spec.__dict__, "search": search_spec, "prune": prune_spec})
    validate(spec, text)
    return spec


def validate(spec: SweepSpec, text: str = "") -> None:
    def fail(key: str, message: str) -> None:
        raise SpecError(key, _line_of(text, key), message)

    if spec.dataset not in DATASETS:
        fail("dataset", f"unknown dataset {spec.dataset!r}; choose from {', '.join(DATASETS)}")
    if spec.epochs < 1:
        fail("epochs", "must be at least 1")
    if spec.seeds < 1:
        fail("seeds", "must be at least 1")
    if not spec.lrs or any(lr <= 0 for lr in spec.lrs):
        fail("lrs", "need at least one positive learning rate")
    for schedule in spec.schedules:
        if schedule not in SCHEDULES:
            fail("schedules", f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    for target in spec.targets:
        if not 0 < target <= 1:
            fail("targets", f"accuracy target {target} is outside (0, 1]")
    if spec.population < 1:
        fail("population", "must be at least 1")
    if spec.device not in ("auto", "cpu", "cuda"):
        fail("device", "choose auto, cpu or cuda")
    if spec.engine not in ("auto", "numba", "torch"):
        fail("engine", "choose auto, numba or torch")
    if not 0 <= spec.holdout < 1:
        fail("holdout", f"the held-out fraction {spec.holdout} is outside [0, 1)")
    if spec.search is not None:
        if spec.search.max_width < 1:
            fail("search.max_width", "must be at least 1")
        if spec.search.structure is not None and any(w < 1 for w in spec.search.structure):
            fail("search.structure", "every width must be at least 1")
        if spec.search.init not in INIT_MODES:
            fail("search.init", f"choose {', '.join(INIT_MODES)}")
        _check_network(spec.search.fixed_network, spec.search.max_width, "search", fail)
        if spec.search.fixed_networks is not None:
            if spec.search.init != "fixed":
                fail("search.fixed_networks", "goes with init = \"fixed\"")
            if spec.search.fixed_network is not None:
                fail("search.fixed_networks", "give fixed_network or fixed_networks, not both")
            if not spec.search.fixed_networks:
                fail("search.fixed_networks", "name at least one network")
            for network in spec.search.fixed_networks:
                _check_network(network, spec.search.max_width, "search", fail)
        if spec.search.symmetry not in ("layer", "joint"):
            fail("search.symmetry", "choose layer or joint")
        for key in ("lrs", "phase2_lrs"):
            lrs = getattr(spec.search, key)
            if lrs is not None and (not lrs or any(lr <= 0 for lr in lrs)):
                fail(f"search.{key}", "need at least one positive learning rate")
        if spec.search.max_masks < 1:
            fail("search.max_masks", "must be at least 1")
        if spec.search.phase2_nnz is not None and any(n < 0 for n in spec.search.phase2_nnz):
            fail("search.phase2_nnz", "weight counts are at least 0 (0: every count)")
        structure = spec.search.structure
        if spec.search.init == "fixed" and structure and max(structure) > spec.search.max_width:
            fail(
                "search.structure",
                f"fixed init cuts structures from a {spec.search.max_width}-wide network "
                "(search.max_width); every width must be at most that",
            )
    if spec.prune is not None:
        from algorithms.registry import ALGORITHMS

        for name in spec.prune.algorithms:
            if name not in ALGORITHMS:
                fail(
                    "prune.algorithms",
                    f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}",
                )
        if any(w < 1 for w in spec.prune.widths):
            fail("prune.widths", "every width must be at least 1")
        if any(n < 1 for n in spec.prune.nnz):
            fail("prune.nnz", "every target must be at least 1")
        if spec.prune.init not in PRUNE_INIT_MODES:
            fail("prune.init", f"choose {', '.join(PRUNE_INIT_MODES)}")
        fixed_width = spec.search.max_width if spec.search else 16
        fixed_width = _check_network(spec.prune.fixed_network, fixed_width, "prune", fail)
        if spec.prune.init == "fixed" and max(spec.prune.widths, default=0) > fixed_width:
            fail(
                "prune.widths",
                f"fixed init cuts structures from a {fixed_width}-wide network; "
                f"every width must be at most {fixed_width}",
            )
        from algorithms.hparams import HyperParameterError
        from harness.sweeps.prune_runs import hparams_from_tables

        for name, table in spec.prune.hparams.items():
            if not isinstance(table, dict):
                fail(f"prune.hparams.{name}", "expected a table of hyper-parameters")
        try:
            hparams_from_tables(spec.prune.algorithms, spec.prune.hparams, spec.prune.init)
        except HyperParameterError as error:
            fail("prune.hparams", str(error))


def _check_network(
    network: str | int | None, width: int, table: str, fail: Callable[[str, str], None]
) -> int:
    """The width a named fixed network holds (`width` for none or a seed); a network
    that cannot be read, or is narrower than `width` for the search, fails."""
    if network is None or is_seed(network):
        return width
    from harness.training.initialisation import network_width

    try:
        holds = network_width(str(network), width)
    except UserError as error:
        fail(f"{table}.fixed_network", str(error))
        return width
    if table == "search" and holds < width:
        fail(f"{table}.fixed_network", f"{network} is {holds} wide; search.max_width is {width}")
    return holds


def preset_names() -> list[str]:
    folder = resources.files("harness.presets")
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def preset_text(name: str) -> str:
    if name not in preset_names():
        raise UserError(f"unknown preset {name!r}; choose from: {', '.join(preset_names())}")
    return (resources.files("harness.presets") / f"{name}.toml").read_text()


def load_spec(name_or_path: str) -> SweepSpec:
    """A preset name, or a path to a TOML spec."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text()
        except OSError as error:
            raise UserError(f"cannot read {path}: {error.strerror}") from None
        return parse_spec(text, str(path))
    return parse_spec(preset_text(name_or_path), f"preset {name_or_path}")
