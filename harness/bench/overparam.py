"""`sparsest bench --suite overparam`: can this machine run the overparameterisation study?

Measured in one run, on this machine:
- `sgemm_gflops`: numpy's float32 matrix product (2048 x 2048, best of five, measured just
  before and just after the dense population, the higher kept), the yardstick.
- `dense_w256_*`: a population of dense 2-256-256-256-1 models trained by the `auto`
  engine, in model-epochs/s and as a fraction of sgemm (a model-epoch of that network is
  6 x 131,840 x 49,982 = 39.5 GFLOP: forward, weight gradient and input gradient).
- `compacted_speedup_w256_nnz40`: width-256 models pruned to 40 weights by SNIP (whose
  masks keep live paths, unlike a random 40 of 131,840), trained compacted (`auto`) against
  the same models trained masked dense (compaction off), model-epochs/s over model-epochs/s.
- `projected_paper_overparam_s`, `projected_paper_s`: the presets' projected wall time
  (harness.sweeps.projection: a short calibration per algorithm and hidden widths, then arithmetic;
  phase 2 of `paper` counted as its (3,3,3) masks, which phase 1 decides).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from algorithms.snip import Snip, SnipParams
from harness.search.config import Phase2Config
from harness.search.phases import plan_phase2
from harness.sweeps.plan import plan_sweep
from harness.sweeps.projection import calibrate, cpu_name, project
from harness.sweeps.spec_file import load_spec
from harness.training.datasets import Dataset, load_dataset
from harness.training.engines.base import SGDConfig, TrainState
from harness.training.engines.select import make_engine
from harness.training.population import Population
from harness.training.session import TrainingSession

WIDE = (2, 256, 256, 256, 1)
DENSE_FLOP = 6 * sum(i * o for i, o in zip(WIDE[:-1], WIDE[1:]))  # per point


@dataclass(frozen=True)
class OverparamFigures:
    cpu: str
    sgemm_gflops: float
    dense_w256_model_epochs_per_s: float
    dense_w256_fraction_of_sgemm: float
    compacted_w256_nnz40_model_epochs_per_s: float
    masked_dense_w256_nnz40_model_epochs_per_s: float
    compacted_speedup_w256_nnz40: float
    projected_paper_overparam_s: float
    projected_paper_s: float


def sgemm_gflops(size: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    b = a.copy()
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(work) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _rate(population: Population, data: Dataset, steps: int, compaction: str) -> float:
    """Model-epochs/s of `steps` optimiser steps of the population (after one warm-up)."""
    config = SGDConfig(epochs=1)
    engine = make_engine("auto", data, config, torch.device("cpu"), compaction)
    state = TrainState.fresh(population)
    engine.import_state(state)
    seeds = population.data_seed.numpy()
    lrs = np.full(population.size, 0.05, np.float32)
    orders = np.ascontiguousarray(np.stack([np.random.default_rng(s).permutation(
        data.points) for s in seeds]).astype(np.int32))  # fmt: skip
    engine.run_steps(orders, 0, 1, lrs)
    seconds = _timed(lambda: engine.run_steps(orders, 1, steps, lrs))
    engine.export_state(state)
    return population.size * steps / config.steps_per_epoch(data.points) / seconds


def _pruned_w256(models: int, data: Dataset) -> Population:
    population = Population.initialize(
        WIDE, list(range(models)), [0.1] * models, ["cosine"] * models
    )
    session = TrainingSession(population, data, SGDConfig(epochs=1))
    masks = Snip(SnipParams()).masks(session, torch.full((models,), 40))
    population.weight_masks = [m.clone() for m in masks]
    population.apply_masks()
    return population


def overparam_figures(models: int = 32, dense_steps: int = 20) -> OverparamFigures:
    data = load_dataset("cubist-spiral")
    dense = Population.initialize(WIDE, list(range(models)), [0.1] * models, ["cosine"] * models)
    before = sgemm_gflops()
    dense_rate = _rate(dense, data, dense_steps, "auto")
    sgemm = max(before, sgemm_gflops())  # the machine's better moment: the harder yardstick
    fraction = dense_rate * DENSE_FLOP * data.points / 1e9 / sgemm
    pruned = _pruned_w256(models, data)
    masked = _rate(pruned.clone(), data, dense_steps, "off")
    compacted = _rate(pruned.clone(), data, 389, "auto")
    projected = {}
    for name in ("paper-overparam", "paper"):
        plans = plan_sweep(load_spec(name))
        rates = calibrate(plans)
        seconds = sum(p.seconds for p in project(plans, rates))
        if name == "paper":
            seconds += _phase2_seconds(plans, rates)
        projected[name] = seconds
    return OverparamFigures(
        cpu=cpu_name(),
        sgemm_gflops=sgemm,
        dense_w256_model_epochs_per_s=dense_rate,
        dense_w256_fraction_of_sgemm=fraction,
        compacted_w256_nnz40_model_epochs_per_s=compacted,
        masked_dense_w256_nnz40_model_epochs_per_s=masked,
        compacted_speedup_w256_nnz40=compacted / masked,
        projected_paper_overparam_s=projected["paper-overparam"],
        projected_paper_s=projected["paper"],
    )


def _phase2_seconds(plans, rates) -> float:  # type: ignore[no-untyped-def]
    """Phase 2 of `paper` on (3,3,3) masks (its 95% structure) at the narrowest search
    class's rate: a stand-in until phase 1 has run."""
    search = [cost for (algorithm, _), cost in rates.items() if not algorithm]
    if not any(p.phase2_follows for p in plans) or not search:
        return 0.0
    cheapest = min(search, key=lambda cost: cost.per_model_epoch)
    trainings = plan_phase2(Phase2Config(structure=(3, 3, 3))).trainings
    return cheapest.seconds(trainings, trainings * 50)
