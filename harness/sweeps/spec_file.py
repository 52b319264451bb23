"""Sweep specifications: a TOML file (or a named preset) that says what to run.

A spec has top-level training settings, an optional [search] table (phases 1 and 2 of
the combinatorial search) and an optional [prune] table (algorithms x widths x weight
nnz targets). Every field is validated here, so a bad spec fails before any training,
with the offending key (and its line) in a one-line message.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
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

MAX_EPOCHS = 10_000
MAX_SEEDS = 1_000
MAX_POPULATION = 65_536
MAX_WIDTH = 4_096
"""Any hidden width a spec trains (prune.widths)."""
MAX_SEARCH_WIDTH = 64
"""search.max_width: phase 1 trains max_width**3 structures."""
MAX_PHASE2_WIDTH = 16
"""search.structure: phase 2 counts and lists every mask of it."""
MAX_MASKS = 100_000_000
MAX_POPULATION_WEIGHTS = 2**28
"""Weights of one population (its size x its widest network's weights): about 1 GiB of
float32 per tensor, and training keeps several."""


@dataclass(frozen=True)
class SearchSpec:
    """The combinatorial search (docs/PROTOCOL.md): phase 1 structures, phase 2 masks."""

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


EXECUTION_KEYS = ("executor", "address", "ray_cpus_per_task", "ray_gpus_per_task")
"""Where a spec trains, not what: left out of the sweep's identity, so a sweep started on
one executor resumes on another."""


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
    executor: str = field(
        default="local",
        metadata={"help": "Where units train: local (this process) or ray (a Ray cluster)."},
    )
    address: str = field(
        default="",
        metadata={
            "help": "With executor ray: the cluster's HOST:PORT (empty: a private "
            "local instance on 127.0.0.1)."
        },
    )
    ray_cpus_per_task: float = 1.0
    ray_gpus_per_task: float = 0.0
    search: SearchSpec | None = None
    prune: PruneSpec | None = None
    include: tuple[str, ...] = field(
        default=(), metadata={"help": "Presets or spec files run before this one."}
    )


def _line_of(text: str, key: str) -> int | None:
    """The line that sets the dotted `key` (or opens its table), or None."""
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            table = stripped.strip("[] ")
            if table == key or table.startswith(f"{key}."):
                return number
            continue
        name = stripped.partition("=")[0].strip().strip("\"'")
        if name and f"{table}.{name}".lstrip(".") == key:
            return number
    name = key.split(".")[-1]
    return next(
        (n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith(name)),
        None,
    )


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


Fail = Callable[[str, str], None]


def parse_spec(
    text: str, source: str = "spec", base: Path | None = None, chain: tuple[str, ...] = ()
) -> SweepSpec:
    """A validated spec from TOML text. Includes resolve against `base` (the including
    file's folder; None: the current one) and are loaded, so a bad or cyclic include
    fails here; `chain`: the includes that led here (cycle detection)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = getattr(error, "lineno", None)  # Python 3.14+
        raise SpecError("", line, f"malformed TOML: {error}", source) from None
    search = _table(raw, "search", text)
    prune = _table(raw, "prune", text)
    spec = _build(SweepSpec, raw, "", text)
    search_spec = _build(SearchSpec, search, "search.", text) if search is not None else None
    prune_spec = _build(PruneSpec, prune, "prune.", text) if prune is not None else None
    if prune_spec is not None and prune_spec.algorithms == ("all",):
        from algorithms.registry import ALGORITHMS

        prune_spec = replace(prune_spec, algorithms=tuple(ALGORITHMS))
    spec = replace(spec, search=search_spec, prune=prune_spec)
    validate(spec, text)
    return replace(spec, include=_load_includes(spec.include, text, base, chain))


def _table(raw: dict[str, Any], key: str, text: str) -> dict[str, Any] | None:
    """raw[key] popped, which must be a table when present."""
    value = raw.pop(key, None)
    if value is not None and not isinstance(value, dict):
        raise SpecError(key, _line_of(text, key), f"expected a table ([{key}]), got {value!r}")
    return value


def validate(spec: SweepSpec, text: str = "") -> None:
    """Every way a spec (its includes aside) cannot run, as a SpecError naming the key."""

    def fail(key: str, message: str) -> None:
        raise SpecError(key, _line_of(text, key), message)

    _check_settings(spec, fail)
    if spec.search is not None:
        _check_search(spec, spec.search, fail)
    if spec.prune is not None:
        _check_prune(spec, spec.prune, fail)
    _check_population(spec, fail)
    if spec.search is None and spec.prune is None and not spec.include:
        raise SpecError("", None, "trains nothing: add a [search] or [prune] table, or include")


def _check_lrs(key: str, lrs: Sequence[float], fail: Fail) -> None:
    if not lrs:
        fail(key, "need at least one learning rate")
    bad = [lr for lr in lrs if not (math.isfinite(lr) and lr > 0)]
    if bad:
        fail(key, f"learning rates must be finite and positive, got {bad[0]}")


def _check_at_most(key: str, value: int, limit: int, fail: Fail, why: str = "") -> None:
    if value > limit:
        fail(key, f"{value:,} is over the limit of {limit:,}{why}")


def _check_settings(spec: SweepSpec, fail: Fail) -> None:
    if spec.dataset not in DATASETS:
        fail("dataset", f"unknown dataset {spec.dataset!r}; choose from {', '.join(DATASETS)}")
    for key, limit in (("epochs", MAX_EPOCHS), ("seeds", MAX_SEEDS),
                       ("population", MAX_POPULATION)):  # fmt: skip
        if getattr(spec, key) < 1:
            fail(key, "must be at least 1")
        _check_at_most(key, getattr(spec, key), limit, fail)
    _check_lrs("lrs", spec.lrs, fail)
    if not spec.schedules:
        fail("schedules", f"need at least one schedule: {', '.join(SCHEDULES)}")
    for schedule in spec.schedules:
        if schedule not in SCHEDULES:
            fail("schedules", f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    if not spec.targets:
        fail("targets", "need at least one accuracy target")
    for target in spec.targets:
        if not 0 < target <= 1:
            fail("targets", f"accuracy target {target} is outside (0, 1]")
    if spec.device not in ("auto", "cpu", "cuda"):
        fail("device", "choose auto, cpu or cuda")
    if spec.engine not in ("auto", "numba", "torch"):
        fail("engine", "choose auto, numba or torch")
    if spec.executor not in ("local", "ray"):
        fail("executor", f"unknown executor {spec.executor!r}; choose local or ray")
    if spec.address and spec.executor != "ray":
        fail("address", 'an address goes with executor = "ray"')
    if not (math.isfinite(spec.ray_cpus_per_task) and spec.ray_cpus_per_task > 0):
        fail("ray_cpus_per_task", f"must be positive, got {spec.ray_cpus_per_task}")
    if not (math.isfinite(spec.ray_gpus_per_task) and 0 <= spec.ray_gpus_per_task <= 64):
        fail("ray_gpus_per_task", f"must be in [0, 64], got {spec.ray_gpus_per_task}")
    if not 0 <= spec.holdout < 1:
        fail("holdout", f"the held-out fraction {spec.holdout} is outside [0, 1)")


def _check_search(spec: SweepSpec, search: SearchSpec, fail: Fail) -> None:
    if search.max_width < 1:
        fail("search.max_width", "must be at least 1")
    _check_at_most("search.max_width", search.max_width, MAX_SEARCH_WIDTH, fail,
                   " (phase 1 trains max_width**3 structures)")  # fmt: skip
    structure = search.structure
    if structure is not None and any(w < 1 for w in structure):
        fail("search.structure", "every width must be at least 1")
    if structure:
        _check_at_most("search.structure", max(structure), MAX_PHASE2_WIDTH, fail,
                       " (phase 2 lists every mask of the structure)")  # fmt: skip
    if not search.phase1 and not search.phase2:
        fail("search.phase2", "phase1 and phase2 are both false: the search trains nothing")
    if not search.phase1 and search.phase2 and structure is None:
        fail("search.phase1", "phase 2 needs a structure: set search.structure, or keep "
                              "phase 1 to find the minimal one")  # fmt: skip
    if search.init not in INIT_MODES:
        fail("search.init", f"choose {', '.join(INIT_MODES)}")
    _check_network(search.fixed_network, search.max_width, "search", fail)
    if search.fixed_networks is not None:
        if search.init != "fixed":
            fail("search.fixed_networks", 'goes with init = "fixed"')
        if search.fixed_network is not None:
            fail("search.fixed_networks", "give fixed_network or fixed_networks, not both")
        if not search.fixed_networks:
            fail("search.fixed_networks", "name at least one network")
        for network in search.fixed_networks:
            _check_network(network, search.max_width, "search", fail)
    if search.symmetry not in ("layer", "joint"):
        fail("search.symmetry", "choose layer or joint")
    _check_lrs("search.lrs", search.lrs, fail)
    if search.phase2_lrs is not None:
        _check_lrs("search.phase2_lrs", search.phase2_lrs, fail)
    if search.max_masks < 1:
        fail("search.max_masks", "must be at least 1")
    _check_at_most("search.max_masks", search.max_masks, MAX_MASKS, fail)
    if search.phase2_nnz is not None and any(n < 0 for n in search.phase2_nnz):
        fail("search.phase2_nnz", "weight counts are at least 0 (0: every count)")
    if search.init == "fixed" and structure and max(structure) > search.max_width:
        fail(
            "search.structure",
            f"fixed init cuts structures from a {search.max_width}-wide network "
            "(search.max_width); every width must be at most that",
        )


def _check_prune(spec: SweepSpec, prune: PruneSpec, fail: Fail) -> None:
    from algorithms.registry import ALGORITHMS

    if not prune.algorithms:
        fail("prune.algorithms", 'name at least one algorithm (or "all")')
    for name in prune.algorithms:
        if name not in ALGORITHMS:
            fail(
                "prune.algorithms",
                f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}",
            )
    if not prune.widths and not prune.from_search:
        fail("prune.widths", "name at least one width (or prune from_search = true)")
    if any(w < 1 for w in prune.widths):
        fail("prune.widths", "every width must be at least 1")
    _check_at_most("prune.widths", max(prune.widths, default=0), MAX_WIDTH, fail)
    if not prune.nnz:
        fail("prune.nnz", "name at least one weight-nnz target")
    if any(n < 1 for n in prune.nnz):
        fail("prune.nnz", "every target must be at least 1")
    if prune.from_search and (spec.search is None or not spec.search.phase1):
        fail("prune.from_search", "prunes from phase 1's minimal structure: needs a [search] "
                                  "with phase1 = true")  # fmt: skip
    if prune.init not in PRUNE_INIT_MODES:
        fail("prune.init", f"choose {', '.join(PRUNE_INIT_MODES)}")
    fixed_width = spec.search.max_width if spec.search else 16
    fixed_width = _check_network(prune.fixed_network, fixed_width, "prune", fail)
    if prune.init == "fixed" and max(prune.widths, default=0) > fixed_width:
        fail(
            "prune.widths",
            f"fixed init cuts structures from a {fixed_width}-wide network; "
            f"every width must be at most {fixed_width}",
        )
    _check_targets_fit(prune, fail)
    _check_hparams(prune, fail)


def _check_targets_fit(prune: PruneSpec, fail: Fail) -> None:
    """Named widths must take at least one target (each below the width's weights)."""
    from algorithms.connectivity import total_weights
    from harness.sweeps.prune_runs import valid_targets

    if prune.from_search or any(valid_targets((w, w, w), prune.nnz) for w in prune.widths):
        return
    widest = max(prune.widths)
    fail("prune.nnz", f"no width takes any target: a target must be at least 4 and below the "
                      f"width's weights ({total_weights((2, widest, widest, widest, 1))} at "
                      f"width {widest})")  # fmt: skip


def _check_hparams(prune: PruneSpec, fail: Fail) -> None:
    from algorithms.hparams import HyperParameterError
    from harness.sweeps.prune_runs import hparams_from_tables

    for name, table in prune.hparams.items():
        if not isinstance(table, dict):
            fail(f"prune.hparams.{name}", "expected a table of hyper-parameters")
    try:
        hparams_from_tables(prune.algorithms, prune.hparams, prune.init)
    except HyperParameterError as error:
        name = str(error).partition(":")[0].strip("'")
        key = f"prune.hparams.{name}" if name in prune.hparams else "prune.hparams"
        fail(key, str(error))


def _check_population(spec: SweepSpec, fail: Fail) -> None:
    """One population of the widest network the spec names must fit in memory."""
    from algorithms.connectivity import total_weights

    widest: list[int] = [*spec.prune.widths] if spec.prune else []
    if spec.search is not None:
        widest += [
            spec.search.max_width if spec.search.phase1 else 1,
            *(spec.search.structure or ()),
        ]
    if not widest:
        return
    width = max(widest)
    weights = spec.population * total_weights((2, width, width, width, 1))
    if weights > MAX_POPULATION_WEIGHTS:
        fail("population", f"{spec.population:,} networks {width} wide hold {weights:,} weights, "
                           f"over the limit of {MAX_POPULATION_WEIGHTS:,} in one population; "
                           "lower population")  # fmt: skip


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
    return (resources.files("harness.presets") / f"{name}.toml").read_text(encoding="utf-8")


def load_spec(name_or_path: str) -> SweepSpec:
    """A preset name, or a path to a TOML spec (UTF-8)."""
    return _load(name_or_path, Path.cwd(), ())


def _include_id(name: str, base: Path) -> str:
    """What an include names: a spec file's resolved path (relative to `base`), else a
    preset name."""
    path = base / name
    if Path(name).suffix == ".toml" or path.exists():
        return str(path.resolve())
    return name


def _load(name: str, base: Path, chain: tuple[str, ...]) -> SweepSpec:
    ident = _include_id(name, base)
    if not Path(ident).is_absolute():
        return parse_spec(preset_text(ident), f"preset {ident}", None, (*chain, ident))
    path = Path(ident)
    return parse_spec(_read_text(path, name), name, path.parent, (*chain, ident))


def _read_text(path: Path, name: str) -> str:
    """The file's text; `name`: the path as the user wrote it, for messages."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read {name}: {error.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise SpecError(
            "", line, f"line {line} is not UTF-8 text (byte 0x{data[error.start]:02x}); "
            "save the spec as UTF-8", name,
        ) from None  # fmt: skip


def _load_includes(
    names: tuple[str, ...], text: str, base: Path | None, chain: tuple[str, ...]
) -> tuple[str, ...]:
    """Each include loaded (so validated) and named as _include_id says."""
    base = base if base is not None else Path.cwd()
    resolved = []
    for name in names:
        ident = _include_id(name, base)
        line = _line_of(text, "include")
        if ident in chain:
            loop = " -> ".join(Path(i).name for i in (*chain, ident))
            raise SpecError("include", line, f"include cycle: {loop}")
        try:
            _load(name, base, chain)
        except SpecError as error:
            inner = str(error).removeprefix(f"{error.source}: ")
            raise SpecError("include", line, f"{name}: {inner}") from None
        except UserError as error:
            raise SpecError("include", line, f"{name}: {error}") from None
        resolved.append(ident)
    return tuple(resolved)
