"""Benchmarks: how fast the harness trains, against the plain one-model loop.

Pure functions returning rows; `sparsest bench` prints them. A suite is a function from
`BenchOptions` to rows, registered in SUITES by name.

The `train` suite times, per hidden width, (a) the plain reference loop
(harness.reference.train_reference: one nn.Module, torch SGD, a shuffling DataLoader)
on the CPU, one torch thread, for `baseline_steps` steps after a warm-up, extrapolated to
model-epochs/s (the loop's cost per step is flat, so a fraction of an epoch predicts the
whole one), and (b) the population trainer (harness.trainer.train with the `auto` engine)
over whole epochs, after a warm-up training that also compiles the kernels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from harness.data import Dataset, load_dataset
from harness.engines.base import SGDConfig, TrainState, make_engine
from harness.population import SCHEDULES, Population
from harness.reference import build_mlp, train_reference
from harness.trainer import train

LEARNING_RATES = (0.05, 0.1, 0.2)


@dataclass(frozen=True)
class BenchOptions:
    """What a suite is asked to measure."""

    population: int = 256
    epochs: int = 3
    device: str = "cpu"
    widths: tuple[tuple[int, ...], ...] = ((3, 3, 3), (16, 16, 16))
    dataset: str = "cubist-spiral"
    baseline_steps: int = 100


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


def baseline_rate(
    layer_sizes: Sequence[int], data: Dataset, config: SGDConfig, steps: int
) -> float:
    """Model-epochs/s of the plain loop, from `steps` timed steps after 10 warm-up steps,
    with one torch thread: its fastest setting for a model this small (with more, every
    tiny op waits on a thread barrier, and on a busy machine the loop slows many-fold)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_reference(build_mlp(layer_sizes, 0), data, 0.1, "cosine", config, max_steps=10)
        model = build_mlp(layer_sizes, 1)
        started = time.perf_counter()
        train_reference(model, data, 0.1, "cosine", config, max_steps=steps)
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
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
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    train(state, data, config, engine)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    kernel = getattr(engine, "kernel", "")
    return size * config.epochs / seconds, compile_s, engine.name + (f"/{kernel}" if kernel else "")


def train_suite(options: BenchOptions) -> list[BenchRow]:
    data = load_dataset(options.dataset)
    config = SGDConfig(epochs=options.epochs)
    rows = []
    for hidden in options.widths:
        sizes = (data.x.shape[1], *hidden, 1)
        baseline = baseline_rate(sizes, data, config, options.baseline_steps)
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


SUITES: dict[str, Callable[[BenchOptions], list[BenchRow]]] = {"train": train_suite}
