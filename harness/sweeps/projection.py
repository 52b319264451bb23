"""Honest time before a sweep starts: a short calibration per cost class, then arithmetic.

A unit's cost class is its algorithm (empty: the search) and its widest hidden layer. For
each class in a plan, `calibrate` trains slices of one of its real units end to end
through `train_unit` (initialisation, scoring, pruning, every training, evaluation,
records): one model for one epoch, then two models for two, after a warm-up that compiles
the kernels. Their difference splits the cost into a part per population (callback
events such as IMP's 200 pruning steps, scoring set-up) and a part per model-epoch, which
`project` scales to each unit's runs and epochs. Stages that phase 1 decides later are
not counted (the caller adds an estimate).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

import torch

from harness.sweeps.plan import PartPlan
from harness.training.datasets import load_split
from harness.training.unit import WorkUnit, train_unit

CostClass = tuple[str, int]


@dataclass(frozen=True)
class Cost:
    """Seconds per population training (`fixed`) and per model-epoch (`per_model_epoch`)."""

    fixed: float
    per_model_epoch: float

    def seconds(self, runs: int, model_epochs: int) -> float:
        return self.fixed + self.per_model_epoch * model_epochs if runs else 0.0


@dataclass(frozen=True)
class PartProjection:
    name: str
    model_epochs: int
    seconds: float


def cost_class(unit: WorkUnit) -> CostClass:
    return unit.algorithm, max(unit.layer_sizes[1:-1])


def _units(plans: Iterable[PartPlan]) -> Iterable[WorkUnit]:
    for plan in plans:
        for stage in plan.stages:
            yield from stage.units


def _time(unit: WorkUnit, split, device: str, engine: str) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    train_unit(unit, split, torch.device(device), engine)
    return time.perf_counter() - started


def calibrate(
    plans: Iterable[PartPlan], device: str = "cpu", engine: str = "auto"
) -> dict[CostClass, Cost]:
    """The cost of each class in `plans`, measured on slices of one of its units."""
    samples: dict[CostClass, WorkUnit] = {}
    for unit in _units(plans):
        samples.setdefault(cost_class(unit), unit)
    costs: dict[CostClass, Cost] = {}
    splits = {}
    for key, unit in samples.items():
        if (unit.dataset, unit.holdout) not in splits:
            splits[unit.dataset, unit.holdout] = load_split(unit.dataset, unit.holdout)
        split = splits[unit.dataset, unit.holdout]
        small = replace(unit, runs=unit.runs[:1], epochs=1)
        large = replace(unit, runs=unit.runs[:2], epochs=min(2, unit.epochs))
        _time(small, split, device, engine)  # warm-up: kernels compiled, caches filled
        t_small, t_large = _time(small, split, device, engine), _time(large, split, device, engine)
        me_small = len(small.runs) * small.training_epochs
        me_large = len(large.runs) * large.training_epochs
        per = max(0.0, (t_large - t_small) / max(1, me_large - me_small))
        costs[key] = Cost(max(0.0, t_small - per * me_small), per)
    return costs


def project(plans: Iterable[PartPlan], costs: dict[CostClass, Cost]) -> list[PartProjection]:
    """Each part's model-epochs (runs new to the sweep) and projected seconds."""
    seen: set[str] = set()
    out = []
    for plan in plans:
        model_epochs, seconds = 0, 0.0
        for stage in plan.stages:
            for unit in stage.units:
                fresh = [r for r in unit.runs if r.run_key not in seen]
                seen.update(r.run_key for r in fresh)
                count = len(fresh) * unit.training_epochs
                model_epochs += count
                seconds += costs[cost_class(unit)].seconds(len(fresh), count)
        out.append(PartProjection(plan.part.name, model_epochs, seconds))
    return out
