"""The combinatorial search (PAPER.md): phase 1 trains every dense structure, phase 2
every mask of one structure (harness.masks), and the frontier is read off the runs.

No I/O here: runs go to a `ResultSink` (the DuckDB store, or `MemorySink`), messages to
a `log` callable and progress to a `progress(done, total)` callable, both supplied by
the caller. A run whose key the sink already holds is skipped, so a rerun resumes.

Seeds. `random` init: a run's init and data order come from a seed derived from
(widths, mask, seed), shared across the lr x schedule grid and distinct across masks
and seeds. `fixed` init: seed s names one network of width `fixed_width` in every hidden
layer (nn.Linear's default init under seed s) and every structure or mask is cut from
its first d neurons per layer; the data order comes from s too.

Phase 1 pads each structure into a population whose widths are its own rounded up to 4,
8, 16, ... (capped at max_width): with max_width 16 that is 27 padded shapes, so small
structures do not pay for 16-wide padding and no population is tiny.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from harness.data import Dataset, load_dataset
from harness.engines.base import SGDConfig, TrainState, make_engine
from harness.evaluation import evaluate
from harness.masks import (
    DEFAULT_MAX_MASKS,
    MaskSet,
    Symmetry,
    check_structure,
    count_structure_masks,
    enumerate_structure,
    pack_network_mask,
)
from harness.orders import epoch_orders
from harness.population import Population, default_linear_init, schedule_code
from harness.schedules import SCHEDULES, epoch_learning_rates
from harness.session import TrainingSession
from harness.sinks import ReadableSink, ResultSink
from harness.spec import RunSpec
from store.records import RunRecord

LogFn = Callable[[str], None]
ProgressFn = Callable[[float, int], None]
INIT_MODES: tuple[str, ...] = ("random", "fixed")


@dataclass(frozen=True)
class Grid:
    """The hyper-parameter grid every structure or mask is trained over."""

    lrs: tuple[float, ...] = (0.05, 0.1)
    schedules: tuple[str, ...] = SCHEDULES
    seeds: int = 1
    epochs: int = 50

    def points(self) -> list[tuple[float, str, int]]:
        return list(itertools.product(self.lrs, self.schedules, range(self.seeds)))

    def validate(self) -> None:
        if not self.lrs or any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"learning rates must be positive, got {self.lrs}")
        for name in self.schedules:
            schedule_code(name)
        if self.seeds < 1 or self.epochs < 1:
            raise ValueError("seeds and epochs must be at least 1")


@dataclass(frozen=True)
class Runner:
    """How runs are trained: dataset, engine (auto, torch, numba), device, models per
    population, steps timed before training to estimate the time (0: no estimate), and
    the sweep the records belong to (None: run outside a sweep)."""

    dataset: str = "cubist-spiral"
    engine: str = "auto"
    device: str = "cpu"
    population: int = 1024
    calibrate_steps: int = 20
    sweep_id: int | None = None


@dataclass(frozen=True)
class Phase1Config:
    max_width: int = 16
    depth: int = 3
    init_mode: str = "random"
    grid: Grid = field(default_factory=Grid)


@dataclass(frozen=True)
class Phase2Config:
    structure: tuple[int, ...] = (3, 3, 3)
    init_mode: str = "random"
    grid: Grid = field(default_factory=Grid)
    symmetry: Symmetry = "layer"
    max_masks: int = DEFAULT_MAX_MASKS
    fixed_width: int = 16
    nnz: tuple[int | None, ...] | None = None  # per masked layer; None: every nnz


@dataclass(frozen=True)
class Plan:
    """What a phase would train: `masks` networks (phase 1: structures) x grid."""

    phase: int
    structure: tuple[int, ...] | None
    masks: int
    trainings: int


@dataclass(frozen=True)
class MinimalStructure:
    """Phase 1's answer for one target; `run` is the structure's best run (None: no
    structure reached the target)."""

    target: float
    run: RunRecord | None

    def as_json(self) -> dict[str, object]:
        r = self.run
        return {
            "target": self.target,
            "structure": list(r.widths) if r else None,
            "params": r.model_nnz if r else None,
            "weight_nnz": r.weight_nnz if r else None,
            "accuracy": r.accuracy if r else None,
            "lr": r.lr if r else None,
            "schedule": r.schedule if r else None,
            "seed": r.seed if r else None,
        }


@dataclass(frozen=True)
class FrontierPoint:
    """The sparsest run reaching `target`, and of its mask's seeds how many did."""

    target: float
    run: RunRecord | None
    seeds_reached: int = 0
    seeds: int = 0

    def as_json(self) -> dict[str, object]:
        r = self.run
        return {
            "target": self.target,
            "weight_nnz": r.weight_nnz if r else None,
            "model_nnz": r.model_nnz if r else None,
            "accuracy": r.accuracy if r else None,
            "run_key": r.run_key if r else None,
            "lr": r.lr if r else None,
            "schedule": r.schedule if r else None,
            "seed": r.seed if r else None,
            "mask": r.mask.hex() if r and r.mask is not None else None,
            "seeds_reached": self.seeds_reached,
            "seeds": self.seeds,
        }


@dataclass(frozen=True)
class ParetoPoint:
    """The best accuracy at one weight nnz; `on_frontier` when no sparser run does as well."""

    weight_nnz: int
    accuracy: float
    run_key: str
    on_frontier: bool


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


# ---- selection -------------------------------------------------------------------------


def reaches(accuracy: float, target: float) -> bool:
    """Accuracies are exact fractions correct/points in float64, as the store compares."""
    return accuracy >= target


def check_targets(targets: Sequence[float]) -> tuple[float, ...]:
    bad = [t for t in targets if not 0 < t <= 1]
    if not targets or bad:
        raise ValueError(f"accuracy targets must lie in (0, 1], got {list(targets)}")
    return tuple(float(t) for t in targets)


def _best(runs: Sequence[RunRecord]) -> RunRecord | None:
    live = [r for r in runs if not r.diverged]
    return min(live, key=lambda r: (-r.accuracy, r.run_key)) if live else None


def minimal_structures(
    records: Sequence[RunRecord], targets: Sequence[float]
) -> list[MinimalStructure]:
    """Per target: fewest parameters (model nnz) among structures whose best run reaches
    it; ties go to fewer neurons, then to the smaller widths."""
    by_structure: dict[tuple[int, ...], list[RunRecord]] = {}
    for r in records:
        by_structure.setdefault(tuple(r.widths), []).append(r)
    best = [b for b in map(_best, by_structure.values()) if b is not None]
    result = []
    for target in check_targets(targets):
        fit = [b for b in best if reaches(b.accuracy, target)]
        pick = min(fit, key=lambda b: (b.model_nnz, sum(b.widths), b.widths), default=None)
        result.append(MinimalStructure(target, pick))
    return result


def frontier(records: Sequence[RunRecord], targets: Sequence[float]) -> list[FrontierPoint]:
    """Per target: the run with the fewest weights (then model nnz, then the best
    accuracy) reaching it, and how many of that mask's seeds reached it."""
    live = [r for r in records if not r.diverged]
    result = []
    for target in check_targets(targets):
        fit = [r for r in live if reaches(r.accuracy, target)]
        pick = min(
            fit, key=lambda r: (r.weight_nnz, r.model_nnz, -r.accuracy, r.run_key), default=None
        )
        if pick is None:
            result.append(FrontierPoint(target, None))
            continue
        same = [
            r
            for r in live
            if (r.widths, r.init_mode, r.mask) == (pick.widths, pick.init_mode, pick.mask)
        ]
        reached = {r.seed for r in same if reaches(r.accuracy, target)}
        result.append(FrontierPoint(target, pick, len(reached), len({r.seed for r in same})))
    return result


def pareto_curve(records: Sequence[RunRecord]) -> list[ParetoPoint]:
    """The best accuracy at each weight nnz, sparsest first."""
    by_nnz: dict[int, RunRecord] = {}
    for r in records:
        if r.diverged:
            continue
        held = by_nnz.get(r.weight_nnz)
        if held is None or (-r.accuracy, r.run_key) < (-held.accuracy, held.run_key):
            by_nnz[r.weight_nnz] = r
    points, record = [], -1.0
    for nnz in sorted(by_nnz):
        r = by_nnz[nnz]
        points.append(ParetoPoint(nnz, r.accuracy, r.run_key, r.accuracy > record))
        record = max(record, r.accuracy)
    return points


# ---- initialisation --------------------------------------------------------------------


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from a description (fits torch and the int64 data orders)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def fixed_network(
    width: int, depth: int, seed: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The fixed-init network: `depth` hidden layers of `width`, nn.Linear's default init."""
    return default_linear_init((2, *[width] * depth, 1), seed)


def sub_network(
    network: tuple[list[torch.Tensor], list[torch.Tensor]], widths: Sequence[int]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The first d neurons of each hidden layer (same weights): a structure's fixed init."""
    sizes = (2, *widths, 1)
    weights, biases = network
    if len(weights) != len(sizes) - 1:
        raise ValueError(f"structure {tuple(widths)} has another depth than the network")
    ws = [w[:o, :i].clone() for w, i, o in zip(weights, sizes[:-1], sizes[1:], strict=True)]
    bs = [b[:o].clone() for b, o in zip(biases, sizes[1:], strict=True)]
    if any(w.shape != (o, i) for w, i, o in zip(ws, sizes[:-1], sizes[1:], strict=True)):
        raise ValueError(f"structure {tuple(widths)} does not fit in the fixed network")
    return ws, bs


# ---- runs and populations --------------------------------------------------------------


@dataclass(frozen=True)
class SearchRun:
    """One planned training: its spec and key, where its init and data order come from,
    and (phase 2) which network of the MaskSet it trains."""

    spec: RunSpec
    key: str
    init_seed: int
    data_seed: int
    mask_id: int = -1  # phase 2: index into the MaskSet


def _spec_hparams(init_mode: str, fixed_width: int) -> tuple[tuple[str, str], ...]:
    return (("fixed_width", str(fixed_width)),) if init_mode == "fixed" else ()


def _make_run(
    kind: str, algorithm: str, dataset: str, widths: tuple[int, ...], init_mode: str,
    point: tuple[float, str, int], epochs: int, fixed_width: int,
    mask_hex: str | None = None, mask_id: int = -1,
) -> SearchRun:  # fmt: skip
    lr, schedule, seed = point
    spec = RunSpec(
        kind, algorithm, dataset, widths, init_mode, seed, lr, schedule, epochs,
        mask=mask_hex, hparams=_spec_hparams(init_mode, fixed_width),
    )  # fmt: skip
    key = spec.run_key()
    if init_mode == "fixed":
        return SearchRun(spec, key, seed, seed, mask_id)
    derived = derive_seed(widths, mask_hex, seed)
    return SearchRun(spec, key, derived, derived, mask_id)


def _initial(
    run: SearchRun, fixed_width: int, cache: dict
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    widths = run.spec.widths
    if run.spec.init_mode == "fixed":
        key = ("fixed", run.init_seed)
        if key not in cache:
            cache[key] = fixed_network(fixed_width, len(widths), run.init_seed)
        return sub_network(cache[key], widths)
    key = ("random", run.init_seed, widths)
    if key not in cache:
        cache[key] = default_linear_init((2, *widths, 1), run.init_seed)
    return cache[key]


def build_population(
    sizes: tuple[int, ...],
    runs: Sequence[SearchRun],
    fixed_width: int,
    masks: Sequence[np.ndarray] | None = None,
) -> Population:
    """The runs' models padded into one population of `sizes`; `masks` (per layer
    [M, out, in] at the runs' own sizes) for phase 2, dense otherwise."""
    m = len(runs)
    pairs = list(itertools.pairwise(sizes))
    weights = [torch.zeros(m, o, i) for i, o in pairs]
    biases = [torch.zeros(m, o) for _, o in pairs]
    weight_masks = [torch.zeros(m, o, i, dtype=torch.bool) for i, o in pairs]
    cache: dict = {}
    for k, run in enumerate(runs):
        ws, bs = _initial(run, fixed_width, cache)
        for layer, (w, b) in enumerate(zip(ws, bs, strict=True)):
            o, i = w.shape
            weights[layer][k, :o, :i] = w
            biases[layer][k, :o] = b
            if masks is None:
                weight_masks[layer][k, :o, :i] = True
            else:
                weight_masks[layer][k, :o, :i] = torch.from_numpy(masks[layer][k])
    population = Population(
        sizes, weights, biases, weight_masks,
        lr=torch.tensor([r.spec.lr for r in runs], dtype=torch.float64),
        schedule=torch.tensor([schedule_code(r.spec.schedule) for r in runs]),
        data_seed=torch.tensor([r.data_seed for r in runs], dtype=torch.int64),
        init_seed=torch.tensor([r.init_seed for r in runs], dtype=torch.int64),
    )  # fmt: skip
    population.apply_masks()
    return population


def resolve_engine(name: str, device: torch.device) -> str:
    """`auto`: the numba kernel on CPU when it is installed, else the torch engine."""
    if name != "auto":
        return name
    if device.type != "cpu":
        return "torch"
    try:
        import harness.engines.numba_engine  # noqa: F401
    except ImportError:
        return "torch"
    return "numba"


def _records(
    population: Population, runs: Sequence[SearchRun], data: Dataset, device: str, seconds: float,
    with_masks: bool, sweep_id: int | None,
) -> list[RunRecord]:  # fmt: skip
    pop = population.to("cpu")
    accuracy, loss, diverged = [], [], []
    for start in range(0, pop.size, 256):
        part = evaluate(pop.select(range(start, min(start + 256, pop.size))), data)
        accuracy += (np.round(part.accuracy.double().numpy() * data.points) / data.points).tolist()
        loss += part.loss.tolist()
        diverged += part.diverged.tolist()
    weight_nnz, model_nnz = pop.weight_nnz().tolist(), pop.model_nnz().tolist()
    records = []
    for k, run in enumerate(runs):
        sizes = (2, *run.spec.widths, 1)
        pairs = list(itertools.pairwise(sizes))
        params = []
        for layer, (i, o) in enumerate(pairs):
            params += [pop.weights[layer][k, :o, :i].ravel(), pop.biases[layer][k, :o]]
        mask = None
        if with_masks:
            mask = pack_network_mask(
                [pop.weight_masks[n][k, :o, :i].numpy() for n, (i, o) in enumerate(pairs)]
            )
        spec = run.spec
        records.append(
            RunRecord(
                run_key=run.key, kind=spec.kind, algorithm=spec.algorithm,
                dataset=spec.dataset, widths=spec.widths, init_mode=spec.init_mode,
                seed=spec.seed, lr=spec.lr, schedule=spec.schedule, epochs=spec.epochs,
                target_weight_nnz=None, weight_nnz=int(weight_nnz[k]),
                model_nnz=int(model_nnz[k]), effective_nnz=int(weight_nnz[k]),
                dead_neurons=(0,) * len(spec.widths), accuracy=float(accuracy[k]),
                final_loss=float(loss[k]), diverged=bool(diverged[k]), device=device,
                wall_seconds=seconds / len(runs), hparams=json.dumps(dict(spec.hparams)),
                mask=mask, weights=torch.cat(params).numpy().astype(np.float32).tobytes(),
                sweep_id=sweep_id,
            )
        )  # fmt: skip
    return records


# ---- throughput ------------------------------------------------------------------------


def measure_throughput(
    sizes: tuple[int, ...], models: int, data: Dataset, epochs: int, runner: Runner
) -> float:
    """Model-epochs per second of a population of `models` dense models of `sizes`,
    timed over `runner.calibrate_steps` steps after one warm-up step."""
    device = torch.device(runner.device)
    config = SGDConfig(epochs=epochs)
    seeds = list(range(models))
    population = Population.initialize(sizes, seeds, [0.05] * models, ["constant"] * models)
    engine = make_engine(resolve_engine(runner.engine, device), data, config, device)
    engine.import_state(TrainState.fresh(population.to(device)))
    orders = epoch_orders(np.array(seeds), 0, data.points)
    lrs = epoch_learning_rates(population.lr.numpy(), population.schedule.numpy(), 0, epochs)
    steps = max(1, min(runner.calibrate_steps, config.steps_per_epoch(data.points) - 1))
    engine.run_steps(orders, 0, 1, lrs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    engine.run_steps(orders, 1, steps, lrs)
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - started) / steps
    return models / (per_step * config.steps_per_epoch(data.points))


def _cost(sizes: tuple[int, ...]) -> int:
    return sum(i * o + o for i, o in itertools.pairwise(sizes))


def _estimate(
    groups: dict[tuple[int, ...], int], data: Dataset, epochs: int, runner: Runner
) -> tuple[float, float] | None:
    """(seconds, model-epochs/s of the largest shape) for `groups` {padded sizes: runs};
    per-model cost is interpolated linearly in the padded parameter count between the
    cheapest and dearest shape."""
    if runner.calibrate_steps <= 0 or not groups:
        return None
    shapes = sorted(groups, key=_cost)
    measured = {}
    for shape in {shapes[0], shapes[-1]}:
        models = min(runner.population, groups[shape])
        measured[_cost(shape)] = 1 / measure_throughput(shape, models, data, epochs, runner)
    (c0, t0), (c1, t1) = min(measured.items()), max(measured.items())
    seconds = 0.0
    for shape, runs in groups.items():
        slope = 0.0 if c1 == c0 else (t1 - t0) / (c1 - c0)
        seconds += runs * epochs * (t0 + slope * (_cost(shape) - c0))
    return seconds, 1 / t1


def format_duration(seconds: float) -> str:
    """'45 s', '12.5 min', '3.2 h'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# ---- execution -------------------------------------------------------------------------


def _pending(runs: Sequence[SearchRun], sink: ResultSink) -> tuple[list[SearchRun], list[str]]:
    keys = [r.key for r in runs]
    done: set[str] = set()
    for start in range(0, len(keys), 10_000):
        done |= sink.done_keys(keys[start : start + 10_000])
    return [r for r, k in zip(runs, keys, strict=True) if k not in done], [
        k for k in keys if k in done
    ]


def train_runs(
    sizes: tuple[int, ...],
    runs: Sequence[SearchRun],
    data: Dataset,
    epochs: int,
    runner: Runner,
    fixed_width: int,
    mask_set: MaskSet | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[RunRecord]:
    """Train `runs` as one population padded to `sizes`; their records, in order."""
    device = torch.device(runner.device)
    masks = None
    if mask_set is not None:
        masks = mask_set.take(np.array([r.mask_id for r in runs]))
    population = build_population(sizes, runs, fixed_width, masks).to(device)
    engine = resolve_engine(runner.engine, device)
    started = time.perf_counter()
    session = TrainingSession(
        population, data, SGDConfig(epochs=epochs), engine=engine, progress=progress
    )
    session.train()
    seconds = time.perf_counter() - started
    return _records(
        population, runs, data, device.type, seconds, mask_set is not None, runner.sweep_id
    )


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
        _make_run("search-phase1", "dense", dataset, widths, config.init_mode, point,
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
        log, "phase 1", plan, len(pending), _estimate(sizes, data, config.grid.epochs, runner)
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
                _make_run("search-phase2", "mask", dataset, widths, config.init_mode,
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
    estimate = _estimate({sizes: len(pending)} if pending else {}, data, config.grid.epochs, runner)
    _announce(log, f"phase 2 on {widths}", plan, len(pending), estimate)
    trained = _execute(groups, data, config.grid.epochs, runner, sink, config.fixed_width,
                       mask_set, plan.trainings, len(done_keys), progress)  # fmt: skip
    records = _summary_records(trained, done_keys, sink, log)
    return Phase2Result(plan, records, frontier(records, targets), pareto_curve(records))
