"""How fast populations train, and so how long a phase will take."""

from __future__ import annotations

import itertools
import time

import numpy as np
import torch

from harness.training.data_order import epoch_orders
from harness.training.datasets import Dataset
from harness.training.engines.base import SGDConfig, TrainState
from harness.training.engines.select import make_engine, resolve_engine
from harness.training.evaluation import evaluate
from harness.training.population import Population
from harness.training.schedules import epoch_learning_rates


def measure_throughput(
    sizes: tuple[int, ...], models: int, data: Dataset, epochs: int,
    device: str = "cpu", engine: str = "auto", steps: int = 20,
) -> float:  # fmt: skip
    """Model-epochs per second of a population of `models` dense models of `sizes`, as a
    search pays them: `steps` timed steps (after one warm-up step) scaled
    to an epoch, plus making the epoch's data orders, plus scoring the population once
    spread over its `epochs`."""
    torch_device = torch.device(device)
    config = SGDConfig(epochs=epochs)
    seeds = list(range(models))
    population = Population.initialize(sizes, seeds, [0.05] * models, ["constant"] * models)
    trainer = make_engine(resolve_engine(engine, torch_device), data, config, torch_device)
    trainer.import_state(TrainState.fresh(population.to(torch_device)))
    make_orders = getattr(trainer, "epoch_orders", epoch_orders)  # as the trainer makes them
    order_seeds = np.array(seeds)
    make_orders(order_seeds, 0, data.points)  # warm-ups: code loaded, buffers touched
    evaluate(population.select([0]), data)
    started = time.perf_counter()
    orders = make_orders(order_seeds, 1, data.points)  # on a GPU: made there, asynchronously
    if torch_device.type == "cuda":
        torch.cuda.synchronize()
    orders_s = time.perf_counter() - started
    lrs = epoch_learning_rates(population.lr.numpy(), population.schedule.numpy(), 0, epochs)
    steps = max(1, min(steps, config.steps_per_epoch(data.points) - 1))
    trainer.run_steps(orders, 0, 1, lrs)
    if torch_device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    trainer.run_steps(orders, 1, steps, lrs)
    if torch_device.type == "cuda":
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - started) / steps
    started = time.perf_counter()
    evaluate(population, data)
    scoring_s = time.perf_counter() - started
    epoch_s = orders_s + per_step * config.steps_per_epoch(data.points) + scoring_s / epochs
    return models / epoch_s


def _cost(sizes: tuple[int, ...]) -> int:
    return sum(i * o + o for i, o in itertools.pairwise(sizes))


def estimate_time(
    groups: dict[tuple[int, ...], int], data: Dataset, epochs: int,
    device: str = "cpu", engine: str = "auto", population: int = 512, steps: int = 20,
) -> tuple[float, float] | None:  # fmt: skip
    """(seconds, model-epochs/s of the largest shape) for `groups` {padded sizes: runs};
    per-model cost is interpolated linearly in the padded parameter count between the
    cheapest and dearest shape."""
    if steps <= 0 or not groups:
        return None
    shapes = sorted(groups, key=_cost)
    measured = {}
    for shape in {shapes[0], shapes[-1]}:
        models = min(population, groups[shape])
        rate = measure_throughput(shape, models, data, epochs, device, engine, steps)
        measured[_cost(shape)] = 1 / rate
    (c0, t0), (c1, t1) = min(measured.items()), max(measured.items())
    seconds = 0.0
    for shape, runs in groups.items():
        slope = 0.0 if c1 == c0 else (t1 - t0) / (c1 - c0)
        seconds += runs * epochs * (t0 + slope * (_cost(shape) - c0))
    return seconds, 1 / t1
