"""Planning and running phase 1 (every dense structure) and phase 2 (every mask of one
structure).

No I/O here: runs go to a `ResultSink` (the DuckDB store, or `MemorySink`), messages to
a `log` callable and progress to a `progress(done, total)` callable, both supplied by
the caller. A run whose key the sink already holds is skipped, so a rerun resumes.

Phase 1 pads each structure into a population whose widths are its own rounded up to 4,
8, 16, ... (capped at max_width): with max_width 16 that is 27 padded shapes, so small
structures do not pay for 16-wide padding and no population is tiny.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.search.config import INIT_MODES, Phase1Config, Phase2Config, Runner
from harness.search.masks import (
    MaskSet,
    check_structure,
    count_structure_masks,
    enumerate_structure,
    pack_network_mask,
)
from harness.search.runs import SearchRun, make_run, train_runs
from harness.search.selection import (
    FrontierPoint,
    MinimalStructure,
    ParetoPoint,
    check_targets,
    frontier,
    minimal_structures,
    pareto_curve,
)
from harness.search.throughput import estimate_time
from harness.sweeps.result_sink import ReadableSink, ResultSink
from harness.timefmt import format_duration
from harness.training.datasets import Dataset, load_dataset
from store.records import RunRecord

LogFn = Callable[[str], None]
ProgressFn = Callable[[float, int], None]


@dataclass(frozen=True)
class Plan:
    """What a phase would train: `masks` networks (phase 1: structures) x grid."""

    phase: int
    structure: tuple[int, ...] | None
    masks: int
    trainings: int


@dataclass(frozen=True)
class Phase1Result:
    plan: Plan
    records: list[RunRecord]
    minimal: list[MinimalStructure]


@dataclass(frozen=True)
class Phase2Result:
    plan: Plan
    records: list[RunRecord]
    frontier: list[FrontierPoint]
    pareto: list[ParetoPoint]


def _pending(runs: Sequence[SearchRun], sink: ResultSink) -> tuple[list[SearchRun], list[str]]:
    keys = [r.key for r in runs]
    done: set[str] = set()
    for start in range(0, len(keys), 10_000):
        done |= sink.done_keys(keys[start : start + 10_000])
    return [r for r, k in zip(runs, keys, strict=True) if k not in done], [
        k for k in keys if k in done
    ]


def _execute(
    groups: dict[tuple[int, ...], list[SearchRun]],
    data: Dataset,
    epochs: int,
    runner: Runner,
    sink: ResultSink,
    fixed_width: int,
    mask_set: MaskSet | None,
    total: int,
    already: int,
    progress: ProgressFn | None,
) -> list[RunRecord]:
    done, trained = float(already), []
    for sizes, runs in groups.items():
        for start in range(0, len(runs), runner.population):
            chunk = runs[start : start + runner.population]

            def step(finished: int, steps: int, base: float = done, n: int = len(chunk)) -> None:
                if progress is not None:
                    progress(base + n * finished / steps, total)

            records = train_runs(sizes, chunk, data, epochs, runner, fixed_width, mask_set, step)
            sink.write_runs(records)
            trained += records
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return trained


def _summary_records(
    trained: list[RunRecord], done_keys: list[str], sink: ResultSink, log: LogFn
) -> list[RunRecord]:
    if not done_keys:
        return trained
    if isinstance(sink, ReadableSink):
        return trained + sink.read_runs(done_keys)
    log(f"{len(done_keys):,} runs were already done and this store cannot return them; "
        "the summary covers this call's runs only")  # fmt: skip
    return trained


def _announce(
    log: LogFn, what: str, plan: Plan, pending: int, estimate: tuple[float, float] | None
) -> None:
    line = (
        f"{what}: {plan.masks:,} {'structures' if plan.phase == 1 else 'masks'}, "
        f"{plan.trainings:,} trainings, {plan.trainings - pending:,} already done, "
        f"{pending:,} to train"
    )
    if estimate is not None:
        seconds, rate = estimate
        line += f"; about {format_duration(seconds)} ({rate:,.0f} model-epochs/s measured)"
    log(line)


def phase1_structures(config: Phase1Config) -> list[tuple[int, ...]]:
    if config.max_width < 1 or config.depth < 1:
        raise ValueError("max_width and depth must be at least 1")
    return list(itertools.product(range(1, config.max_width + 1), repeat=config.depth))


def _bucket(width: int, max_width: int) -> int:
    """Width rounded up to 4, 8, 16, ... (at most max_width): few, well-filled populations."""
    padded = 4
    while padded < width:
        padded *= 2
    return min(padded, max_width)


def phase1_runs(config: Phase1Config, dataset: str) -> list[SearchRun]:
    return [
        make_run("search-phase1", "dense", dataset, widths, config.init_mode, point,
                 config.grid.epochs, config.max_width)
        for widths in phase1_structures(config)
        for point in config.grid.points()
    ]  # fmt: skip


def plan_phase1(config: Phase1Config) -> Plan:
    config.grid.validate()
    structures = len(phase1_structures(config))
    return Plan(1, None, structures, structures * len(config.grid.points()))


def run_phase1(
    config: Phase1Config,
    runner: Runner,
    sink: ResultSink,
    targets: Sequence[float] = (0.95, 0.995),
    log: LogFn | None = None,
    progress: ProgressFn | None = None,
) -> Phase1Result:
    """Every dense structure over the grid; the minimal structure per target."""
    log = log or (lambda _: None)
    targets = check_targets(targets)
    if config.init_mode not in INIT_MODES:
        raise ValueError(f"unknown init mode {config.init_mode!r}; choose random or fixed")
    plan = plan_phase1(config)
    data = load_dataset(runner.dataset)
    runs = phase1_runs(config, runner.dataset)
    pending, done_keys = _pending(runs, sink)
    groups: dict[tuple[int, ...], list[SearchRun]] = {}
    for run in pending:
        padded = tuple(_bucket(w, config.max_width) for w in run.spec.widths)
        groups.setdefault((2, *padded, 1), []).append(run)
    sizes = {shape: len(rs) for shape, rs in groups.items()}
    _announce(
        log, "phase 1", plan, len(pending), estimate_time(sizes, data, config.grid.epochs, runner)
    )
    trained = _execute(groups, data, config.grid.epochs, runner, sink, config.max_width, None,
                       plan.trainings, len(done_keys), progress)  # fmt: skip
    records = _summary_records(trained, done_keys, sink, log)
    return Phase1Result(plan, records, minimal_structures(records, targets))


def _phase2_sizes(config: Phase2Config) -> tuple[int, ...]:
    sizes = check_structure((2, *config.structure, 1))
    if config.init_mode == "fixed" and max(sizes[1:-1]) > config.fixed_width:
        raise ValueError(
            f"structure {tuple(config.structure)} does not fit in the fixed "
            f"{config.fixed_width}-wide network"
        )
    return sizes


def phase2_masks(config: Phase2Config) -> MaskSet:
    return enumerate_structure(_phase2_sizes(config), config.nnz, config.symmetry, config.max_masks)


def phase2_runs(
    config: Phase2Config, mask_set: MaskSet, dataset: str, mask_ids: Sequence[int] | None = None
) -> list[SearchRun]:
    """Every network of `mask_set` (or those `mask_ids`) over the grid, mask by mask."""
    widths = tuple(config.structure)
    points = config.grid.points()
    ids = np.arange(len(mask_set)) if mask_ids is None else np.asarray(mask_ids, np.int64)
    runs = []
    for start in range(0, len(ids), 4096):
        chunk = ids[start : start + 4096]
        batch = mask_set.take(chunk)
        for k, mask_id in enumerate(chunk.tolist()):
            mask_hex = pack_network_mask([layer[k] for layer in batch]).hex()
            runs += [
                make_run("search-phase2", "mask", dataset, widths, config.init_mode,
                         point, config.grid.epochs, config.fixed_width, mask_hex, mask_id)
                for point in points
            ]  # fmt: skip
    return runs


def plan_phase2(config: Phase2Config) -> Plan:
    """Counted, not listed; raises MaskLimitError over `config.max_masks`."""
    config.grid.validate()
    sizes = _phase2_sizes(config)
    masks = count_structure_masks(sizes, config.nnz, config.symmetry, config.max_masks)
    if masks > config.max_masks:
        enumerate_structure(sizes, config.nnz, config.symmetry, config.max_masks)  # raises
    return Plan(2, tuple(config.structure), masks, masks * len(config.grid.points()))


def run_phase2(
    config: Phase2Config,
    runner: Runner,
    sink: ResultSink,
    targets: Sequence[float] = (0.95, 0.995),
    log: LogFn | None = None,
    progress: ProgressFn | None = None,
) -> Phase2Result:
    """Every mask of `config.structure` over the grid; the frontier and Pareto curve."""
    log = log or (lambda _: None)
    targets = check_targets(targets)
    if config.init_mode not in INIT_MODES:
        raise ValueError(f"unknown init mode {config.init_mode!r}; choose random or fixed")
    config.grid.validate()
    mask_set = phase2_masks(config)
    plan = Plan(
        2, tuple(config.structure), len(mask_set), len(mask_set) * len(config.grid.points())
    )
    data = load_dataset(runner.dataset)
    widths = tuple(config.structure)
    runs = phase2_runs(config, mask_set, runner.dataset)
    pending, done_keys = _pending(runs, sink)
    sizes = (2, *widths, 1)
    groups = {sizes: pending} if pending else {}
    estimate = estimate_time(
        {sizes: len(pending)} if pending else {}, data, config.grid.epochs, runner
    )
    _announce(log, f"phase 2 on {widths}", plan, len(pending), estimate)
    trained = _execute(groups, data, config.grid.epochs, runner, sink, config.fixed_width,
                       mask_set, plan.trainings, len(done_keys), progress)  # fmt: skip
    records = _summary_records(trained, done_keys, sink, log)
    return Phase2Result(plan, records, frontier(records, targets), pareto_curve(records))
