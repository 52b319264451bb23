"""Benchmarks: how fast the harness trains, against the plain one-model loop.

Pure functions returning rows; `sparsest bench` prints them. A suite is a function from
`BenchOptions` to rows, registered by name in harness.bench.suites.SUITES (with the
phase-2 `search` and the pruning `prune` suites, which live there).

The `train` suite times, per hidden width, (a) the plain reference loop
(harness.training.reference.train_reference: one nn.Module, torch SGD, a shuffling DataLoader)
on the CPU, one torch thread, for `baseline_steps` steps after a warm-up, extrapolated to
model-epochs/s (the loop's cost per step is flat, so a fraction of an epoch predicts the
whole one), and (b) the population trainer (harness.training.trainer.train with the `auto` engine)
over whole epochs, after a warm-up training that also compiles the kernels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from harness.training.datasets import Dataset, load_dataset
from harness.training.engines.base import Engine, SGDConfig, TrainState
from harness.training.engines.select import make_engine
from harness.training.population import Population
from harness.training.reference import build_mlp, train_reference
from harness.training.schedules import SCHEDULES
from harness.training.trainer import train

LEARNING_RATES = (0.05, 0.1, 0.2)


@dataclass(frozen=True)
class BenchOptions:
    """What a suite is asked to measure. `widths`: the train suite's hidden widths;
    `structure`: the search suite's; `prune_width`, `target_weight_nnz` and `algorithms`
    (empty: every registered one): the prune suite's. `torch_threads`: torch's threads
    on the harness's side (None: torch's default, as `sparsest` runs)."""

    population: int = 256
    epochs: int = 3
    device: str = "cpu"
    widths: tuple[tuple[int, ...], ...] = ((3, 3, 3), (16, 16, 16))
    dataset: str = "cubist-spiral"
    baseline_steps: int = 100
    structure: tuple[int, ...] = (3, 3, 3)
    prune_width: tuple[int, ...] = (16, 16, 16)
    target_weight_nnz: int = 20
    algorithms: tuple[str, ...] = ()
    torch_threads: int | None = None


@dataclass(frozen=True)
class BenchRow:
    """One measurement. Rates in model-epochs per second of wall-clock time;
    `compile_s` is the warm-up (kernel compilation included), not in the rate."""

    suite: str
    width: tuple[int, ...]
    population: int
    model_epochs_per_s: float
    baseline_model_epochs_per_s: float
    speedup: float
    device: str
    engine: str
    compile_s: float
    baseline_steps: int


@dataclass(frozen=True)
class Suite:
    """A registered benchmark: its function, the --population and --epochs it runs with
    when not told, and the table's caption (how its baseline was measured)."""

    run: Callable[[BenchOptions], Sequence[BenchRow]]
    population: int
    epochs: int
    caption: str


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Torch on `count` threads inside the block (None: as it is). The baselines run on
    one: the fastest setting for one small model (with more, every tiny op waits on a
    thread barrier, and on a busy machine the loop slows many-fold)."""
    threads = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def baseline_rate(
    layer_sizes: Sequence[int],
    data: Dataset,
    config: SGDConfig,
    steps: int,
    masks: Sequence[torch.Tensor] | None = None,
) -> float:
    """Model-epochs/s of the plain loop (one torch thread; `masks`, 0/1 per Linear weight,
    re-applied after every step), from `steps` timed steps after 10 warm-up steps."""
    with torch_threads(1):
        train_reference(
            build_mlp(layer_sizes, 0), data, 0.1, "cosine", config, masks=masks, max_steps=10
        )
        model = build_mlp(layer_sizes, 1)
        started = time.perf_counter()
        train_reference(model, data, 0.1, "cosine", config, masks=masks, max_steps=steps)
        seconds = time.perf_counter() - started
    return steps / config.steps_per_epoch(data.points) / seconds


def grid_population(layer_sizes: Sequence[int], size: int) -> Population:
    """`size` models cycling through the study's lr x schedule grid, seeds 0..size-1."""
    grid = [(lr, s) for lr in LEARNING_RATES for s in SCHEDULES]
    return Population.initialize(
        layer_sizes,
        list(range(size)),
        [grid[k % len(grid)][0] for k in range(size)],
        [grid[k % len(grid)][1] for k in range(size)],
    )


def engine_label(engine: Engine) -> str:
    """The engine's name, and its kernel once it has chosen one: 'numba/fused'."""
    kernel = getattr(engine, "kernel", "")
    return engine.name + (f"/{kernel}" if kernel else "")


def auto_engine_label(
    layer_sizes: Sequence[int], data: Dataset, config: SGDConfig, device: torch.device
) -> str:
    """What the `auto` engine runs for populations of `layer_sizes` on `device`."""
    engine = make_engine("auto", data, config, device)
    engine.import_state(TrainState.fresh(grid_population(layer_sizes, 1).to(device)))
    return engine_label(engine)


def population_rate(
    layer_sizes: Sequence[int], data: Dataset, config: SGDConfig, size: int, device: torch.device
) -> tuple[float, float, str]:
    """(model-epochs/s, warm-up seconds, engine name) of the population trainer."""
    engine = make_engine("auto", data, config, device)
    started = time.perf_counter()
    warm_up = SGDConfig(epochs=1, batch_size=config.batch_size)
    train(TrainState.fresh(grid_population(layer_sizes, 2).to(device)), data, warm_up, engine)
    compile_s = time.perf_counter() - started
    state = TrainState.fresh(grid_population(layer_sizes, size).to(device))
    synchronize(device)
    started = time.perf_counter()
    train(state, data, config, engine)
    synchronize(device)
    seconds = time.perf_counter() - started
    return size * config.epochs / seconds, compile_s, engine_label(engine)


def train_suite(options: BenchOptions) -> list[BenchRow]:
    data = load_dataset(options.dataset)
    config = SGDConfig(epochs=options.epochs)
    rows = []
    for hidden in options.widths:
        sizes = (data.x.shape[1], *hidden, 1)
        baseline = baseline_rate(sizes, data, config, options.baseline_steps)
        with torch_threads(options.torch_threads):
            rate, compile_s, engine = population_rate(
                sizes, data, config, options.population, torch.device(options.device)
            )
        rows.append(
            BenchRow(
                suite="train",
                width=tuple(hidden),
                population=options.population,
                model_epochs_per_s=rate,
                baseline_model_epochs_per_s=baseline,
                speedup=rate / baseline,
                device=options.device,
                engine=engine,
                compile_s=compile_s,
                baseline_steps=options.baseline_steps,
            )
        )
    return rows


TRAIN_SUITE = Suite(
    train_suite,
    population=1024,
    epochs=10,
    caption="baseline: the plain one-model loop (harness.training.reference) on the CPU, one torch "
    "thread, {baseline_steps} steps timed, extrapolated to epochs",
)
