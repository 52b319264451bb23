"""The harness as the app uses it, imported lazily.

harness.sweeps.spec_file and algorithms.registry import torch (about 3 s on this machine), so
nothing here is imported until a worker thread asks, and first paint never waits for
it. Every call runs in a thread worker. If the algorithm registry cannot be imported
(someone is editing it), the builder still works with the names it can find.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from store import queries
from store.db import ResultsStore, StoreError

DEFAULT_MODEL_EPOCHS_PER_S = 2000.0
"""Model-epochs per second when neither the store nor a calibration says better.
harness.search.throughput.measure_throughput on a 2-core CPU (numba engine, 512 models on
cubist-spiral) gave 9,300 for 2-3-3-3-1, 2,100 for 8-wide and 1,150 for 16-wide; a
648-run pruning sweep over widths 3-8 ran at about 1,600. Override with
make_app(throughput=...)."""
CALIBRATION_SHAPE = (2, 8, 8, 8, 1)
"""What a calibration times: the middle of the study's small widths."""

_lock = threading.Lock()
_info: HarnessInfo | None = None


@dataclass(frozen=True)
class HarnessInfo:
    """What the builder offers. algorithms: name -> one-line summary; error: why the
    registry could not be read (None when it could)."""

    datasets: tuple[str, ...]
    schedules: tuple[str, ...]
    algorithms: dict[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class SpecPlan:
    """A validated spec's size: runs known now, how many of them the store already holds
    (a launch skips those), model-epochs the rest cost (weighted by algorithm), and
    whether phase 2 adds runs once phase 1 has found its structure."""

    runs: int
    model_epochs: float
    phase2_pending: bool
    dataset: str
    device: str
    projected_s: float | None = None  # from this machine's calibration cache, if complete
    stored: int = 0


def preset_names() -> list[str]:
    """The preset files, listed without importing harness.sweeps.spec_file (and torch)."""
    folder = resources.files("harness.presets")
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def preset_text(name: str) -> str:
    from harness.sweeps.spec_file import preset_text as text

    return text(name)


def load_info() -> HarnessInfo:
    """Datasets, schedules and algorithm summaries (cached; the first call imports torch)."""
    global _info
    with _lock:
        if _info is not None:
            return _info
        from harness.training.datasets import DATASETS

        try:
            from harness.training.schedules import SCHEDULES

            schedules = tuple(SCHEDULES)
        except Exception:
            schedules = ("cosine", "multistep", "constant")
        try:
            from algorithms.registry import ALGORITHMS
            from algorithms.repair import SUFFIX

            # the registry lists the base names; the builder adds each one's repair
            algorithms = {
                name: str(getattr(cls, "summary", "")) for name, cls in ALGORITHMS.items()
            }
            algorithms |= {
                name + SUFFIX: f"{name} with its disconnected weights re-allocated to "
                "effective ones (effective-sparsity repair)"
                for name in algorithms
            }
            error = None
        except Exception as exc:
            algorithms = {}
            error = f"algorithm registry unavailable: {type(exc).__name__}: {exc}"
        _info = HarnessInfo(tuple(DATASETS), schedules, algorithms, error)
        return _info


def parse_spec(text: str) -> Any:
    """harness.sweeps.spec_file.parse_spec: a SweepSpec, or a UserError with a one-line reason."""
    from harness.sweeps.spec_file import parse_spec as parse

    return parse(text, "spec")


def plan(spec: Any, store: ResultsStore | None = None) -> SpecPlan:
    """Count the runs a SweepSpec expands into, as `sparsest run` will (runs that two
    parts share train once), how many of them `store` holds, and the model-epochs the
    rest cost as each algorithm counts its trainings (harness.sweeps.plan.summarize)."""
    from harness.sweeps.plan import plan_sweep, summarize

    plans = plan_sweep(spec)
    stored = stored_keys(plans, store)
    parts = summarize(plans, stored)
    return SpecPlan(
        sum(part.new_runs for part in parts),
        float(sum(part.model_epochs for part in parts)),
        any(part.phase2_follows or part.prune_follows for part in parts),
        spec.dataset,
        spec.device,
        projected_seconds(plans, spec, stored),
        sum(part.stored for part in parts),
    )


def stored_keys(plans: Any, store: ResultsStore | None) -> set[str]:
    """The plans' run keys the store holds; none when there is no store, or it is busy
    for more than a second (the count is a courtesy; a launch skips them either way)."""
    if store is None:
        return set()
    from harness.sweeps.stages import stored_keys as keys

    try:
        units = [unit for part in plans for unit in part.units]
        return keys(units, ResultsStore(store.path, lock_timeout=1.0))
    except StoreError:
        return set()


def projected_seconds(plans: Any, spec: Any, stored: set[str] | None = None) -> float | None:
    """What `sparsest run SPEC --dry-run` projects for the runs not `stored`, when this
    machine's calibration cache holds every cost class of the plan (the builder never
    calibrates: it would stall)."""
    from harness.sweeps.projection import costs_if_cached, project

    costs = costs_if_cached(plans, spec.device, spec.engine)
    if costs is None:
        return None
    return sum(p.seconds for p in project(plans, costs, stored or set()))


def measured_throughput(store: ResultsStore, dataset: str) -> tuple[float, int] | None:
    """Median model-epochs per second of the stored runs on `dataset` (and how many runs
    that is), from each run's share of its population's wall time; None if none."""
    if not store.path.exists():
        return None
    try:
        measured = queries.throughput(store, dataset)
    except StoreError:
        return None
    return None if measured is None else (measured.model_epochs_per_s, measured.runs)


def calibrate(dataset: str, device: str, population: int) -> float:
    """Model-epochs per second of `population` CALIBRATION_SHAPE models, timed over a few
    steps (harness.search.throughput.measure_throughput); about a second on a CPU."""
    from harness.search.throughput import measure_throughput
    from harness.training.datasets import load_dataset

    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    models = min(population, 256)
    data = load_dataset(dataset)
    return measure_throughput(CALIBRATION_SHAPE, models, data, 50, device, "auto", steps=5)
