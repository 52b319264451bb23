"""Pruning runs: a grid of algorithms x widths x weight-nnz targets x lr x schedule x seed,
grouped into populations, pruned and trained, evaluated, measured and recorded.

A grid expands into `PruneRun`s (a frozen `RunSpec` each, so each has a run key). Runs
that can share a population (same algorithm and hyper-parameters, structure, epochs,
init mode and data) are trained together; lr, schedule, seed and target differ per model.
Results go to a sink (`write_runs`, `done_keys`: the DuckDB store or `MemorySink`); runs
the sink already has are skipped, so a rerun finishes only what is missing.

Init modes. `random`: model m is the default nn.Linear init from its run seed. `fixed`:
the study's fixed initialisation, cut exactly as the search cuts it
(harness.training.initialisation): one seeded network `fixed_width` wide in every hidden
layer whose first d neurons per layer
form the structure; its seed is the run seed, or `fixed_init_seed` for every run (the
init of the search's winning run). Both are part of the run key (hparams `fixed_width`,
as the search records it, and `fixed_init_seed`). The data order comes from the run seed.
Fixed-init runs keep that init: SNIP's and GraSP's `xavier_reinit` defaults to false
there (`FIXED_INIT_HPARAMS`; an explicit --hp wins), and the run key records it.

Randomness. An algorithm's own draws (random masks, RigL's initial mask, the Xavier
re-init) come from `TrainingSession.draw`, one stream per model seeded by its init and
data seeds: a run gets the same draws alone or in any population, so its result repeats
per run key however a (resumed) sweep groups the runs.

Units: accuracy is the final epoch's on the scoring points; `wall_seconds` is the
population's wall time divided by its models. `weights` bytes (structures up to 16 wide)
are float32, layer by layer: the weight matrix row-major, then the bias.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from algorithms.base import HyperParameters
from algorithms.connectivity import connectivity, path_minimum, total_weights
from algorithms.hparams import HyperParameterError, non_default, parse_hparams
from harness.errors import UserError
from harness.sweeps.result_sink import MemorySink, ResultSink
from harness.training.datasets import DATASETS, Split, load_split
from harness.training.engines.base import SGDConfig
from harness.training.engines.select import resolve_engine
from harness.training.evaluation import evaluate
from harness.training.initialisation import fixed_network, sub_network
from harness.training.population import Population
from harness.training.run_spec import RunSpec
from harness.training.schedules import SCHEDULES
from harness.training.session import TrainingSession
from store.records import RunRecord

INIT_MODES = ("random", "fixed")
FIXED_INIT_HPARAMS = ("xavier_reinit=false",)
"""Defaults of fixed-init runs, for the algorithms that have the field (before --hp)."""
WEIGHTS_KEPT_UP_TO_WIDTH = 16


def algorithm_classes() -> dict[str, Any]:
    from algorithms.registry import ALGORITHMS

    return dict(ALGORITHMS)


@dataclass(frozen=True)
class PruneGrid:
    """What to run. widths: hidden widths per structure, e.g. ((3, 3, 3), (16, 16, 16));
    hparams: `key=value` items, `name.key=value` for one algorithm (see resolve_hparams)."""

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
    dataset: str = "cubist-spiral"
    holdout: float = 0.0
    shared_order: bool = False
    hparams: tuple[str, ...] = ()


@dataclass(frozen=True)
class PruneRun:
    """One model to prune: its spec (and run key), hyper-parameters and init seed."""

    spec: RunSpec
    params: HyperParameters = field(compare=False)
    init_seed: int
    fixed_width: int = 16

    @property
    def run_key(self) -> str:
        return self.spec.run_key()

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (2, *self.spec.widths, 1)


@dataclass(frozen=True)
class PruneProgress:
    """Runs finished of all to run; steps of the training call in flight."""

    runs_done: int
    runs_total: int
    population_runs: int
    steps_done: int
    steps_total: int


ProgressFn = Callable[[PruneProgress], None]


def resolve_hparams(
    algorithms: Sequence[str], items: Sequence[str], init: str = "random"
) -> dict[str, HyperParameters]:
    """Each algorithm's parameters from `key=value` (to every selected algorithm that has
    `key`) and `name.key=value` (to algorithm `name` only) items. With `init` "fixed",
    FIXED_INIT_HPARAMS come first, so an item naming the same field overrides them."""
    classes = algorithm_classes()
    per_algorithm: dict[str, list[str]] = {name: [] for name in algorithms}
    if init == "fixed":
        for name in algorithms:
            fields = classes[name].Params.__dataclass_fields__
            per_algorithm[name] += [
                item for item in FIXED_INIT_HPARAMS if item.partition("=")[0] in fields
            ]
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
    try:
        return {n: parse_hparams(classes[n].Params, per_algorithm[n]) for n in algorithms}
    except HyperParameterError as error:
        raise UserError(f"--hp: {error}") from None


def _check_grid(grid: PruneGrid) -> None:
    classes = algorithm_classes()
    for name in grid.algorithms:
        if name not in classes:
            raise UserError(f"unknown algorithm {name!r}; choose from: {', '.join(classes)}")
    if not grid.algorithms or not grid.widths or not grid.nnz:
        raise UserError("need at least one algorithm, one width and one weight-nnz target")
    for hidden in grid.widths:
        if not hidden or any(w < 1 for w in hidden):
            raise UserError(f"every width must be at least 1, got {hidden}")
    if grid.init not in INIT_MODES:
        raise UserError(f"unknown init {grid.init!r}; choose random or fixed")
    if grid.init == "fixed" and max(max(h) for h in grid.widths) > grid.fixed_width:
        raise UserError(
            f"fixed init cuts structures from a {grid.fixed_width}-wide network; "
            f"every width must be at most {grid.fixed_width}"
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


def expand_grid(grid: PruneGrid, strict: bool = True) -> list[PruneRun]:
    """Every run of the grid. A target outside [path minimum, total weights) is skipped for
    that structure; with `strict` (an explicit request), a target no structure can take
    is an error."""
    _check_grid(grid)
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
    params = resolve_hparams(grid.algorithms, grid.hparams, grid.init)
    runs = []
    for name, hidden, lr, schedule, seed in itertools.product(
        grid.algorithms, grid.widths, grid.lrs, grid.schedules, range(grid.seeds)
    ):
        extras: dict[str, Any] = {}
        init_seed = seed
        if grid.init == "fixed":
            extras["fixed_width"] = grid.fixed_width
            if grid.fixed_init_seed is not None:
                init_seed = extras["fixed_init_seed"] = grid.fixed_init_seed
        pairs = {**non_default(params[name]), **extras}
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
            runs.append(PruneRun(spec, params[name], init_seed, grid.fixed_width))
    return runs


def group_runs(runs: Sequence[PruneRun], population_size: int = 512) -> list[list[PruneRun]]:
    """Runs that can train side by side, in populations of at most `population_size`."""
    groups: dict[tuple[Any, ...], list[PruneRun]] = {}
    for run in runs:
        s = run.spec
        key = (
            s.algorithm,
            s.hparams,
            s.widths,
            s.epochs,
            s.init_mode,
            s.dataset,
            s.holdout,
            s.shared_order,
        )
        groups.setdefault(key, []).append(run)
    return [
        group[start : start + population_size]
        for group in groups.values()
        for start in range(0, len(group), population_size)
    ]


def fixed_init(
    hidden: Sequence[int], seed: int, fixed_width: int = 16
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The first d neurons per layer of the search's seeded fixed network."""
    return sub_network(fixed_network(fixed_width, len(hidden), seed), hidden)


def build_population(runs: Sequence[PruneRun]) -> Population:
    """The population of `runs` (one structure), initialised per the runs' init mode."""
    specs = [r.spec for r in runs]
    population = Population.initialize(
        runs[0].layer_sizes,
        init_seeds=[r.init_seed for r in runs],
        lrs=[s.lr for s in specs],
        schedules=[s.schedule for s in specs],
        data_seeds=[s.seed for s in specs],
    )
    if specs[0].init_mode == "fixed":
        cache: dict[tuple[int, int], tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        for k, run in enumerate(runs):
            key = (run.init_seed, run.fixed_width)
            if key not in cache:
                cache[key] = fixed_init(specs[0].widths, run.init_seed, run.fixed_width)
            weights, biases = cache[key]
            for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
                population.weights[layer][k] = w
                population.biases[layer][k] = b
        population.apply_masks()
    return population


def pack_masks(masks: Sequence[torch.Tensor]) -> list[bytes]:
    """Per model: numpy.packbits of its weight masks, layer by layer, row-major."""
    flat = torch.cat([m.flatten(1) for m in masks], dim=1).cpu().numpy().astype(np.uint8)
    packed = np.packbits(flat, axis=1)
    return [row.tobytes() for row in packed]


def pack_weights(population: Population) -> list[bytes]:
    parts = []
    for w, b in zip(population.weights, population.biases, strict=True):
        parts += [w.flatten(1), b]
    flat = torch.cat(parts, dim=1).detach().cpu().numpy().astype(np.float32)
    return [row.tobytes() for row in flat]


def run_population(
    runs: Sequence[PruneRun],
    split: Split | None = None,
    device: torch.device | str = "cpu",
    engine: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    sweep_id: int | None = None,
) -> list[RunRecord]:
    """Prune and train `runs` (one group of `group_runs`) as one population."""
    first = runs[0].spec
    split = split or load_split(first.dataset, first.holdout)
    device = torch.device(device)
    engine = resolve_engine(engine, device)
    population = build_population(runs).to(device)
    targets = torch.tensor([r.spec.target_weight_nnz for r in runs], dtype=torch.int64)
    session = TrainingSession(
        population,
        split.train,
        SGDConfig(epochs=first.epochs, shared_order=first.shared_order),
        engine=engine,
        progress=progress,
    )
    algorithm = algorithm_classes()[first.algorithm](runs[0].params)
    started = time.perf_counter()
    algorithm.run(session, targets.to(device))
    population = session.population  # type: ignore[assignment]
    result = evaluate(population, split.test)
    wall = (time.perf_counter() - started) / len(runs)
    links = connectivity(population.weight_masks)
    weight_nnz = population.weight_nnz().cpu()
    model_nnz = population.model_nnz().cpu()
    masks = pack_masks(population.weight_masks)
    keep_weights = max(first.widths) <= WEIGHTS_KEPT_UP_TO_WIDTH
    weights = pack_weights(population) if keep_weights else [None] * len(runs)
    records = []
    for k, run in enumerate(runs):
        s = run.spec
        diverged = bool(result.diverged[k])
        records.append(
            RunRecord(
                run_key=run.run_key,
                kind=s.kind,
                algorithm=s.algorithm,
                dataset=s.dataset,
                widths=s.widths,
                init_mode=s.init_mode,
                seed=s.seed,
                lr=s.lr,
                schedule=s.schedule,
                epochs=s.epochs,
                target_weight_nnz=s.target_weight_nnz,
                weight_nnz=int(weight_nnz[k]),
                model_nnz=int(model_nnz[k]),
                effective_nnz=int(links.effective_nnz[k]),
                dead_neurons=tuple(int(d) for d in links.dead_neurons[k]),
                accuracy=float(result.accuracy[k]),
                final_loss=math.nan if diverged else float(result.loss[k]),
                diverged=diverged,
                device=device.type,
                wall_seconds=wall,
                sweep_id=sweep_id,
                hparams=json.dumps({k2: json.loads(v) for k2, v in s.hparams}, sort_keys=True),
                mask=masks[k],
                weights=weights[k],
            )
        )
    return records


def run_grid(
    grid: PruneGrid,
    sink: ResultSink | None = None,
    device: torch.device | str = "cpu",
    engine: str = "auto",
    population_size: int = 512,
    progress: ProgressFn | None = None,
    strict: bool = True,
    sweep_id: int | None = None,
) -> list[RunRecord]:
    """Run every run of `grid` the sink does not have yet; returns the new records (each
    population's records are written to the sink as soon as it finishes)."""
    sink = sink if sink is not None else MemorySink()
    runs = expand_grid(grid, strict=strict)
    done = sink.done_keys([r.run_key for r in runs])
    todo = [r for r in runs if r.run_key not in done]
    split = load_split(grid.dataset, grid.holdout)
    records: list[RunRecord] = []
    for group in group_runs(todo, population_size):
        finished = len(records)

        def report(steps: int, total: int, finished: int = finished, size: int = len(group)):
            if progress is not None:
                progress(PruneProgress(finished, len(todo), size, steps, total))

        report(0, 1)
        new = run_population(group, split, device, engine, report, sweep_id)
        sink.write_runs(new)
        records.extend(new)
    if progress is not None:
        progress(PruneProgress(len(records), len(todo), 0, 1, 1))
    return records
