"""Pruning runs: a grid of algorithms x widths x weight-nnz targets x lr x schedule x seed,
planned as work units (harness.training.unit), one population each.

A grid expands into `PlannedRun`s (a frozen `RunSpec` each, so each has a run key). Runs
that can share a population (same algorithm and hyper-parameters, structure, epochs,
init mode and data) form one unit; lr, schedule, seed and target differ per model.

Init modes. `random`: model m is the default nn.Linear init from its run seed. `fixed`:
the study's fixed initialisation, cut exactly as the search cuts it
(harness.training.initialisation): a named network (`fixed_network`: the paper's
`paper-95` / `paper-995`, or a file), else one seeded network `fixed_width` wide in
every hidden layer whose first d neurons per layer form the structure; its seed is the
run seed, or `fixed_init_seed` for every run (the init of the search's winning run).
All are part of the run key (hparams `fixed_width`, as the search records it,
`fixed_network`, `fixed_init_seed`).
The data order comes from the run seed. Fixed-init runs keep that init: SNIP's and
GraSP's `xavier_reinit` defaults to false there (`FIXED_INIT_HPARAMS`; an explicit
value wins), and the run key records it.

Hyper-parameters are typed from end to end: the CLI's `--hp key=value` text is read once
(`hparams_from_items`), a spec's TOML tables are checked as they are (`hparams_from_tables`),
and the grid carries the algorithms' dataclass instances.

Randomness. An algorithm's own draws (random masks, RigL's initial mask, the Xavier
re-init) come from `TrainingSession.draw`, one stream per model seeded by its init and
data seeds: a run gets the same draws alone or in any population, so its result repeats
per run key however a (resumed) sweep groups the runs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from algorithms.base import HyperParameters
from algorithms.connectivity import path_minimum, total_weights
from algorithms.hparams import HyperParameterError, make_hparams, non_default, parse_hparams
from harness.errors import UserError
from harness.training.datasets import DATASETS
from harness.training.initialisation import network_label, network_width
from harness.training.run_spec import PRUNE_INIT_MODES, RunSpec, is_seed
from harness.training.schedules import SCHEDULES
from harness.training.unit import PlannedRun, WorkUnit

FIXED_INIT_HPARAMS: dict[str, Any] = {"xavier_reinit": False}
"""Defaults of fixed-init runs, for the algorithms that have the field (before --hp)."""


def algorithm_classes() -> Mapping[str, Any]:
    """The registry itself (a lookup composes `NAME+repair` on first use)."""
    from algorithms.registry import ALGORITHMS

    return ALGORITHMS


@dataclass(frozen=True)
class PruneGrid:
    """What to run. widths: hidden widths per structure, e.g. ((3, 3, 3), (16, 16, 16));
    params: each algorithm's hyper-parameters (missing: its defaults, with
    FIXED_INIT_HPARAMS under fixed init)."""

    algorithms: tuple[str, ...]
    widths: tuple[tuple[int, ...], ...]
    nnz: tuple[int, ...]
    lrs: tuple[float, ...] = (0.05, 0.1, 0.2)
    schedules: tuple[str, ...] = SCHEDULES
    seeds: int = 1
    epochs: int = 50
    init: str = "random"
    fixed_init_seed: int | None = None
    fixed_width: int = 16
    fixed_network: str = ""
    dataset: str = "cubist-spiral"
    holdout: float = 0.0
    shared_order: bool = False
    params: Mapping[str, HyperParameters] = field(default_factory=dict, compare=False)

    def params_of(self, algorithm: str) -> HyperParameters:
        if algorithm in self.params:
            return self.params[algorithm]
        return hparams_from_tables((algorithm,), {}, self.init)[algorithm]


def _known(algorithms: Sequence[str]) -> dict[str, Any]:
    classes = algorithm_classes()
    for name in algorithms:
        if name not in classes:
            raise UserError(f"unknown algorithm {name!r}; choose from: {', '.join(classes)}")
    return classes


def _fixed_defaults(params_cls: type[HyperParameters], init: str) -> dict[str, Any]:
    if init != "fixed":
        return {}
    names = params_cls.__dataclass_fields__
    return {key: value for key, value in FIXED_INIT_HPARAMS.items() if key in names}


def hparams_from_tables(
    algorithms: Sequence[str], tables: Mapping[str, Mapping[str, Any]], init: str = "random"
) -> dict[str, HyperParameters]:
    """Each algorithm's parameters from a spec's `[prune.hparams.NAME]` tables (typed TOML
    values). Raises HyperParameterError naming the algorithm."""
    classes = _known(algorithms)
    for name in tables:
        if name not in algorithms:
            raise HyperParameterError(f"{name!r} is not among the selected algorithms")
    result = {}
    for name in algorithms:
        values = {**_fixed_defaults(classes[name].Params, init), **tables.get(name, {})}
        try:
            result[name] = make_hparams(classes[name].Params, values)
        except HyperParameterError as error:
            raise HyperParameterError(f"{name}: {error}") from None
    return result


def hparams_from_items(
    algorithms: Sequence[str], items: Sequence[str], init: str = "random"
) -> dict[str, HyperParameters]:
    """Each algorithm's parameters from `--hp` items: `key=value` (to every selected
    algorithm that has `key`) and `name.key=value` (to algorithm `name` only). Under
    fixed init FIXED_INIT_HPARAMS come first, so an item naming the same field wins."""
    classes = _known(algorithms)
    per_algorithm: dict[str, list[str]] = {name: [] for name in algorithms}
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep:
            raise UserError(f"--hp: expected key=value, got {item!r}")
        name, dot, field_name = key.strip().rpartition(".")
        if dot:
            if name not in per_algorithm:
                raise UserError(f"--hp {item}: {name!r} is not among the selected algorithms")
            per_algorithm[name].append(f"{field_name}={item.partition('=')[2]}")
            continue
        takers = [n for n in algorithms if field_name in classes[n].Params.__dataclass_fields__]
        if not takers:
            valid = sorted(
                {f"{n}.{f}" for n in algorithms for f in classes[n].Params.__dataclass_fields__}
            )
            raise UserError(
                f"--hp: no selected algorithm has {field_name!r}; valid: "
                f"{', '.join(valid) or 'none'}"
            )
        for n in takers:
            per_algorithm[n].append(item)
    result = {}
    for name in algorithms:
        cls = classes[name].Params
        try:
            parsed = parse_hparams(cls, per_algorithm[name])
            given = {i.partition("=")[0].strip() for i in per_algorithm[name]}
            values = {key: getattr(parsed, key) for key in given}
            result[name] = make_hparams(cls, {**_fixed_defaults(cls, init), **values})
        except HyperParameterError as error:
            raise UserError(f"--hp: {error}") from None
    return result


def check_grid(grid: PruneGrid) -> None:
    """Every way a grid can be wrong, as one-line UserErrors."""
    classes = algorithm_classes()
    for name in grid.algorithms:
        if name not in classes:
            raise UserError(f"unknown algorithm {name!r}; choose from: {', '.join(classes)}")
    if not grid.algorithms or not grid.widths or not grid.nnz:
        raise UserError("need at least one algorithm, one width and one weight-nnz target")
    for hidden in grid.widths:
        if not hidden or any(w < 1 for w in hidden):
            raise UserError(f"every width must be at least 1, got {hidden}")
    if grid.init not in PRUNE_INIT_MODES:
        raise UserError(f"unknown init {grid.init!r}; choose random or fixed")
    fits = grid.fixed_width
    if grid.init == "fixed" and grid.fixed_network:
        fits = network_width(grid.fixed_network, grid.fixed_width)
    if grid.init == "fixed" and max(max(h) for h in grid.widths) > fits:
        raise UserError(
            f"fixed init cuts structures from a {fits}-wide network; "
            f"every width must be at most {fits}"
        )
    if grid.dataset not in DATASETS:
        raise UserError(f"unknown dataset {grid.dataset!r}; choose from {', '.join(DATASETS)}")
    if grid.epochs < 1 or grid.seeds < 1:
        raise UserError("epochs and seeds must be at least 1")
    if not grid.lrs or any(not lr > 0 for lr in grid.lrs):
        raise UserError("learning rates must be positive")
    for schedule in grid.schedules:
        if schedule not in SCHEDULES:
            raise UserError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")


def valid_targets(hidden: Sequence[int], nnz: Sequence[int]) -> list[int]:
    """The targets a structure can be pruned to: at least one weight per layer (a path),
    fewer than all of its weights."""
    sizes = (2, *hidden, 1)
    return [n for n in nnz if path_minimum(sizes) <= n < total_weights(sizes)]


def expand_grid(grid: PruneGrid, strict: bool = True) -> list[PlannedRun]:
    """Every run of the grid. A target outside [path minimum, total weights) is skipped for
    that structure; with `strict` (an explicit request), a target no structure can take
    is an error."""
    check_grid(grid)
    if strict:
        for n in grid.nnz:
            if not any(valid_targets(h, [n]) for h in grid.widths):
                smallest = min(grid.widths, key=lambda h: total_weights((2, *h, 1)))
                sizes = (2, *smallest, 1)
                raise UserError(
                    f"target weight nnz {n} is outside [{path_minimum(sizes)}, "
                    f"{total_weights(sizes) - 1}] for every width asked for: at least one "
                    "weight per layer keeps a path, and fewer than all the weights"
                )
    runs = []
    for name, hidden, lr, schedule, seed in itertools.product(
        grid.algorithms, grid.widths, grid.lrs, grid.schedules, range(grid.seeds)
    ):
        extras: dict[str, Any] = {}
        init_seed = seed
        if grid.init == "fixed":
            if not grid.fixed_network or is_seed(grid.fixed_network):  # else: its own width
                extras["fixed_width"] = grid.fixed_width
            if grid.fixed_network:
                extras["fixed_network"] = network_label(grid.fixed_network)
            elif grid.fixed_init_seed is not None:
                init_seed = extras["fixed_init_seed"] = grid.fixed_init_seed
        pairs = {**non_default(grid.params_of(name)), **extras}
        for target in valid_targets(hidden, grid.nnz):
            spec = RunSpec(
                kind="prune",
                algorithm=name,
                dataset=grid.dataset,
                widths=tuple(hidden),
                init_mode=grid.init,
                seed=seed,
                lr=float(lr),
                schedule=schedule,
                epochs=grid.epochs,
                target_weight_nnz=int(target),
                hparams=tuple(sorted((k, json.dumps(v)) for k, v in pairs.items())),
                holdout=grid.holdout,
                shared_order=grid.shared_order,
            )
            runs.append(PlannedRun.of(spec, init_seed, seed))
    return runs


def prune_units(grid: PruneGrid, population: int, strict: bool = False) -> list[WorkUnit]:
    """The grid's runs as units: runs that can train side by side (same algorithm and
    hyper-parameters, structure, epochs, init mode, data), at most `population` each."""
    groups: dict[tuple[Any, ...], list[PlannedRun]] = {}
    for run in expand_grid(grid, strict=strict):
        s = run.spec
        key = (s.algorithm, s.hparams, s.widths, s.epochs, s.init_mode, s.dataset, s.holdout,
               s.shared_order)  # fmt: skip
        groups.setdefault(key, []).append(run)
    units = []
    for runs in groups.values():
        first = runs[0].spec
        label = f"{first.algorithm} from {first.widths}"
        for start in range(0, len(runs), population):
            units.append(
                WorkUnit(
                    label, first.dataset, (2, *first.widths, 1), first.epochs,
                    tuple(runs[start : start + population]), holdout=first.holdout,
                    fixed_width=grid.fixed_width, fixed_network=grid.fixed_network,
                    algorithm=first.algorithm,
                    params=grid.params_of(first.algorithm), shared_order=first.shared_order,
                )
            )  # fmt: skip
    return units
