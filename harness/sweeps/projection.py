"""Honest time before a sweep starts: a short calibration per cost class, then arithmetic.

A unit's cost class is its algorithm (empty: the search) and its hidden widths: phase 1's
padded shapes (4, 4, 16) and (16, 16, 16) cost many times apart, so each is measured (a
class of its widest layer alone measured the first shape and projected phase 1 at about
half its time). For each class in a plan, `calibrate` trains slices of one of its real
units end to end through `train_unit` (initialisation, scoring, pruning, every training,
evaluation, records), after a warm-up that compiles the kernels: a few and many models
(4 and 32 up to width 16, else 2 and 4), each for one and for two epochs. The four times
split the cost into a part per population (callback events such as IMP's 200 pruning
steps), per model (scoring at init, evaluation), per epoch (the loop's own work) and per
model-epoch, which `project` scales to each unit's runs and epochs. Stages that phase 1
decides later are not counted (the caller adds them).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from harness.sweeps.plan import PartPlan
from harness.training.datasets import load_split
from harness.training.unit import WorkUnit, train_unit

CostClass = tuple[str, tuple[int, ...]]


@dataclass(frozen=True)
class Cost:
    """Seconds per population (`fixed`), per model, per model-epoch and per epoch (the
    training loop's own work, shared by the population)."""

    fixed: float
    per_model: float
    per_model_epoch: float
    per_epoch: float = 0.0

    def seconds(self, runs: int, model_epochs: int) -> float:
        """A population of `runs` models training `model_epochs` in all."""
        if not runs:
            return 0.0
        epochs = model_epochs / runs
        return (
            self.fixed + self.per_model * runs + self.per_epoch * epochs
            + self.per_model_epoch * model_epochs
        )  # fmt: skip


@dataclass(frozen=True)
class PartProjection:
    """A part's projected model-epochs and seconds, and the seconds per cost class."""

    name: str
    model_epochs: int
    seconds: float
    by_class: dict[CostClass, float] = field(default_factory=dict)


def class_label(cls: CostClass) -> str:
    """'lth from 64-64-64', 'search on 16-16-4' (phase 1's padded shape)."""
    algorithm, widths = cls
    shape = "-".join(map(str, widths))
    return f"{algorithm} from {shape}" if algorithm else f"search on {shape}"


def cost_class(unit: WorkUnit) -> CostClass:
    return unit.algorithm, tuple(unit.layer_sizes[1:-1])


def unit_seconds(unit: WorkUnit, costs: dict[CostClass, Cost]) -> float:
    """The projected seconds of training `unit` whole."""
    return costs[cost_class(unit)].seconds(len(unit.runs), len(unit.runs) * unit.training_epochs)


def _units(plans: Iterable[PartPlan]) -> Iterable[WorkUnit]:
    for plan in plans:
        yield from plan.units


def _time(unit: WorkUnit, split, device: str, engine: str) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    train_unit(unit, split, torch.device(device), engine)
    return time.perf_counter() - started


def _fit(slices: list[WorkUnit], seconds: list[float]) -> Cost:
    """Solve t = fixed + per_model * m + per_epoch * e + per_model_epoch * m * e from the
    four slices (m, e) = (few, 1), (many, 1), (few, 2), (many, 2); e in training epochs.
    The per-epoch part is the loop's own work, paid once per population and epoch."""
    (m1, e1), (m2, _), (_, e2) = ((len(u.runs), u.training_epochs) for u in slices[:3])
    t11, t21, t12, t22 = seconds
    dm, de = max(1, m2 - m1), max(1, e2 - e1)
    per_model_epoch = max(0.0, ((t22 - t12) - (t21 - t11)) / (dm * de))
    per_model = max(0.0, (t21 - t11) / dm - per_model_epoch * e1)
    per_epoch = max(0.0, (t12 - t11) / de - per_model_epoch * m1)
    fixed = max(0.0, t11 - per_model * m1 - per_epoch * e1 - per_model_epoch * m1 * e1)
    return Cost(fixed, per_model, per_model_epoch, per_epoch)


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
        few, many = (4, 32) if max(key[1]) <= 16 else (2, 4)  # narrow models cost little
        shapes = [(few, 1), (many, 1), (few, 2), (many, 2)]
        slices = [replace(unit, runs=unit.runs[:m], epochs=min(e, unit.epochs)) for m, e in shapes]
        _time(slices[0], split, device, engine)  # warm-up: kernels compiled, caches filled
        costs[key] = _fit(slices, [_time(u, split, device, engine) for u in slices])
    return costs


def project(
    plans: Iterable[PartPlan], costs: dict[CostClass, Cost], stored: AbstractSet[str] = frozenset()
) -> list[PartProjection]:
    """Each part's model-epochs and projected seconds: its runs new to the sweep and not
    among `stored` (run keys the store already has)."""
    seen: set[str] = set(stored)
    out = []
    for plan in plans:
        model_epochs, by_class = 0, dict[CostClass, float]()
        for unit in plan.units:
            fresh = [r for r in unit.runs if r.run_key not in seen]
            seen.update(r.run_key for r in fresh)
            count = len(fresh) * unit.training_epochs
            model_epochs += count
            cls = cost_class(unit)
            by_class[cls] = by_class.get(cls, 0.0) + costs[cls].seconds(len(fresh), count)
        out.append(PartProjection(plan.part.name, model_epochs, sum(by_class.values()), by_class))
    return out


def labelled(by_class: dict[CostClass, float]) -> dict[str, float]:
    """Seconds per cost class, labelled ('lth from 64-64-64'), the costliest first."""
    totals: dict[str, float] = {}
    for cls, seconds in by_class.items():
        label = class_label(cls)
        totals[label] = totals.get(label, 0.0) + seconds
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def main_classes(
    projections: Iterable[PartProjection], share: float = 0.1, most: int = 4
) -> list[tuple[str, float]]:
    """The (at most `most`) labelled classes that take `share` of the time or more, over
    all parts, the costliest first."""
    merged: dict[CostClass, float] = {}
    for part in projections:
        for cls, seconds in part.by_class.items():
            merged[cls] = merged.get(cls, 0.0) + seconds
    total = sum(merged.values())
    return [(k, s) for k, s in labelled(merged).items() if s >= share * total > 0][:most]


def _cache_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "sparsest" / "calibration.json"


def machine_key(device: str, engine: str) -> str:
    """What a calibration depends on besides the class: the machine and the software."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("sparsest")
    except PackageNotFoundError:
        ours = "dev"
    return "|".join([cpu_name(), str(os.cpu_count()), torch.__version__, ours, device, engine])


def _class_key(unit: WorkUnit) -> str:
    algorithm, widths = cost_class(unit)
    shape = "x".join(map(str, widths))
    return f"{unit.dataset}|{unit.holdout}|{algorithm or 'search'}|{shape}"


def cached_costs(
    plans: list[PartPlan],
    device: str = "cpu",
    engine: str = "auto",
    calibrate_missing: bool = True,
    path: Path | None = None,
) -> dict[CostClass, Cost] | None:
    """The costs of `plans`' classes from the calibration cache, calibrating (and caching)
    the missing ones; None when some are missing and `calibrate_missing` is false."""
    path = path or _cache_path()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    mine = cache.setdefault(machine_key(device, engine), {})
    keys = {cost_class(u): _class_key(u) for u in _units(plans)}
    missing = [plan for plan in plans if any(keys[cost_class(u)] not in mine
                                             for u in _units([plan]))]  # fmt: skip
    if missing:
        if not calibrate_missing:
            return None
        for key, cost in calibrate(missing, device, engine).items():
            mine[keys[key]] = [cost.fixed, cost.per_model, cost.per_model_epoch, cost.per_epoch]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cache, indent=1))
        except OSError:
            pass  # a read-only home: the figures still stand for this call
    return {cls: Cost(*mine[key]) for cls, key in keys.items()}


def costs_if_cached(
    plans: list[PartPlan], device: str, engine: str
) -> dict[CostClass, Cost] | None:
    """The cached costs of `plans` on `device` ('auto', 'cpu', 'cuda') of this machine,
    never calibrating: None when a class is not cached or the device is not here."""
    from harness.errors import UserError
    from harness.training.engines.select import resolve_device

    try:
        resolved = str(resolve_device(device))
    except UserError:  # a device this machine lacks (a cluster's): nothing to go by
        return None
    return cached_costs(plans, resolved, engine, calibrate_missing=False)


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
