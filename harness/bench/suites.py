"""The phase-2 search and pruning benchmarks, and the registry of every suite.

`search`: phase 2 (harness.search.phases) on one structure, (3, 3, 3) by default: the first
`population` masks of its enumeration at one lr and schedule, trained as one population
by `train_runs` with the `auto` engine (numba on the CPU) for `epochs` epochs, and timed
end to end (population built, trained, evaluated, recorded). Progress timestamps split
that time into a per-epoch cost and a per-population overhead, which project the paper's
full 95% phase 2 (every (3, 3, 3) mask x the default 2 lr x 3 schedule grid: 155,952
trainings of 50 epochs) at the measured rate. Baseline: the plain one-model loop
(harness.training.reference) on the first mask, as in the train suite.

`prune`: every registered algorithm's `run(session, targets)` on a population of
`population` models of `prune_width` (lr x schedule x seed grid, target `target_weight_nnz`,
`epochs` epochs per training; pre-training scoring included), against the same algorithm
on ONE model with the torch engine on the CPU (one torch thread), timed in the same call.
Model-epochs are what the algorithm trained (`TrainingSession.epochs_trained`: 5 trainings
for the lottery ticket, 2 for magnitude-after), so both sides are counted alike.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from harness.bench.bench import (
    TRAIN_SUITE,
    BenchOptions,
    BenchRow,
    Suite,
    auto_engine_label,
    baseline_rate,
    synchronize,
    torch_threads,
)
from harness.search.config import Grid, Phase2Config
from harness.search.phases import phase2_masks, phase2_units, plan_phase2
from harness.sweeps.prune_runs import PruneGrid, algorithm_classes, prune_units
from harness.training.datasets import Dataset, load_dataset, load_split
from harness.training.engines.base import SGDConfig
from harness.training.engines.select import resolve_engine
from harness.training.session import TrainingSession
from harness.training.unit import WorkUnit, build_population, train_unit

PAPER_EPOCHS = 50


@dataclass(frozen=True)
class SearchRow(BenchRow):
    """A search measurement. `epoch_s`: one epoch of the whole population; `overhead_s`:
    the rest of its time (building, evaluating and recording it); `projected_paper_95_s`:
    the paper's 95% phase 2 at those costs, population by population."""

    epoch_s: float
    overhead_s: float
    paper_95_trainings: int
    projected_paper_95_s: float


@dataclass(frozen=True)
class PruneRow(BenchRow):
    """One algorithm's measurement. `epochs_trained`: epochs each model trained (over all
    of the algorithm's trainings); `seconds` and `baseline_seconds`: the population's and
    the one model's `run`, pruning included."""

    algorithm: str
    target_weight_nnz: int
    epochs_trained: int
    seconds: float
    baseline_seconds: float


def paper_95_trainings() -> int:
    """Trainings of the paper's 95% phase 2: every (3, 3, 3) mask over the default grid."""
    return plan_phase2(Phase2Config(structure=(3, 3, 3))).trainings


def search_suite(options: BenchOptions) -> list[SearchRow]:
    data = load_dataset(options.dataset)
    device = torch.device(options.device)
    structure = tuple(options.structure)
    sizes = (data.x.shape[1], *structure, 1)
    grid = Grid(lrs=(0.1,), schedules=("cosine",), epochs=options.epochs)
    config = Phase2Config(structure=structure, grid=grid)
    mask_set = phase2_masks(config)
    size = min(options.population, len(mask_set))
    unit = phase2_units(config, options.dataset, size, mask_set)[0]
    warm_up = replace(unit, runs=unit.runs[:2], epochs=1)
    split = load_split(options.dataset)
    engine = resolve_engine("auto", device)

    marks: list[float] = []

    def mark(done: int, total: int) -> None:
        synchronize(device)
        marks.append(time.perf_counter())

    with torch_threads(options.torch_threads):
        started = time.perf_counter()
        train_unit(warm_up, split, device, engine)
        compile_s = time.perf_counter() - started
        started = time.perf_counter()
        train_unit(unit, split, device, engine, mark)
        seconds = time.perf_counter() - started
    if options.epochs > 1:
        epoch_s = (marks[-1] - marks[0]) / (options.epochs - 1)
    else:
        epoch_s = marks[0] - started  # building the population included
    overhead_s = max(0.0, seconds - options.epochs * epoch_s)
    trainings = paper_95_trainings()
    projected = trainings / size * (overhead_s + PAPER_EPOCHS * epoch_s)

    masks = [torch.from_numpy(layer[0]) for layer in mask_set.take(np.array([0]))]
    sgd = SGDConfig(epochs=options.epochs)
    baseline = baseline_rate(sizes, data, sgd, options.baseline_steps, masks)
    rate = size * options.epochs / seconds
    return [
        SearchRow(
            suite="search",
            width=structure,
            population=size,
            model_epochs_per_s=rate,
            baseline_model_epochs_per_s=baseline,
            speedup=rate / baseline,
            device=options.device,
            engine=auto_engine_label(sizes, data, sgd, device),
            compile_s=compile_s,
            baseline_steps=options.baseline_steps,
            epoch_s=epoch_s,
            overhead_s=overhead_s,
            paper_95_trainings=trainings,
            projected_paper_95_s=projected,
        )
    ]


def prune_unit(name: str, options: BenchOptions, size: int) -> WorkUnit:
    """`size` runs of algorithm `name` (its default hyper-parameters) as one unit: the
    lr x schedule grid over as many seeds as it takes."""
    grid = PruneGrid(
        algorithms=(name,),
        widths=(tuple(options.prune_width),),
        nnz=(options.target_weight_nnz,),
        seeds=math.ceil(size / 9),
        epochs=options.epochs,
        dataset=options.dataset,
    )
    return prune_units(grid, size, strict=True)[0]


def time_prune(
    unit: WorkUnit, data: Dataset, engine: str, device: torch.device
) -> tuple[float, int]:
    """(seconds, epochs each model trained) of the unit's algorithm on it as one
    population: `run(session, targets)`, pruning and every training included. The torch
    engine runs plain (the baseline: masked dense, no compaction)."""
    population = build_population(unit).to(device)
    session = TrainingSession(
        population,
        data,
        SGDConfig(epochs=unit.epochs),
        engine=resolve_engine(engine, device),
        compaction="off" if engine == "torch" else "auto",
    )
    algorithm = algorithm_classes()[unit.algorithm](unit.params)
    targets = torch.tensor([r.spec.target_weight_nnz for r in unit.runs], device=device)
    synchronize(device)
    started = time.perf_counter()
    algorithm.run(session, targets)
    synchronize(device)
    return time.perf_counter() - started, session.epochs_trained


def prune_suite(options: BenchOptions) -> list[PruneRow]:
    data = load_split(options.dataset).train
    device = torch.device(options.device)
    cpu = torch.device("cpu")
    names = options.algorithms or tuple(algorithm_classes())
    started = time.perf_counter()
    warm_up = prune_unit("random", options, 2)
    with torch_threads(options.torch_threads):
        time_prune(warm_up, data, "auto", device)
    with torch_threads(1):
        time_prune(replace(warm_up, runs=warm_up.runs[:1]), data, "torch", cpu)
    compile_s = time.perf_counter() - started
    sizes = warm_up.layer_sizes
    engine = auto_engine_label(sizes, data, SGDConfig(epochs=options.epochs), device)
    steps_per_epoch = SGDConfig().steps_per_epoch(data.points)
    rows = []
    for name in names:
        unit = prune_unit(name, options, options.population)
        with torch_threads(options.torch_threads):
            seconds, epochs = time_prune(unit, data, "auto", device)
        with torch_threads(1):
            one = replace(unit, runs=unit.runs[:1])
            baseline_seconds, baseline_epochs = time_prune(one, data, "torch", cpu)
        rate = len(unit.runs) * epochs / seconds
        baseline = baseline_epochs / baseline_seconds
        rows.append(
            PruneRow(
                suite="prune",
                width=tuple(options.prune_width),
                population=len(unit.runs),
                model_epochs_per_s=rate,
                baseline_model_epochs_per_s=baseline,
                speedup=rate / baseline,
                device=options.device,
                engine=engine,
                compile_s=compile_s,
                baseline_steps=baseline_epochs * steps_per_epoch,
                algorithm=name,
                target_weight_nnz=options.target_weight_nnz,
                epochs_trained=epochs,
                seconds=seconds,
                baseline_seconds=baseline_seconds,
            )
        )
    return rows


SEARCH_SUITE = Suite(
    search_suite,
    population=1024,
    epochs=5,
    caption="phase 2 end to end (build, train, evaluate, record) on the first masks of the "
    "enumeration; baseline: the plain one-model loop on the first mask, CPU, one torch "
    "thread, {baseline_steps} steps timed, extrapolated to epochs",
)
PRUNE_SUITE = Suite(
    prune_suite,
    population=256,
    epochs=20,
    caption="algorithm.run (pruning and every training), model-epochs as trained; "
    "baseline: the same algorithm on one model, torch engine, CPU, one torch thread",
)
SUITES: dict[str, Suite] = {"train": TRAIN_SUITE, "search": SEARCH_SUITE, "prune": PRUNE_SUITE}
