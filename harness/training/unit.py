"""Work units: one population to train, as plain picklable data, and the one pipeline
that trains it (search phases and every pruning algorithm alike).

A unit carries no tensors and no data set: the worker rebuilds the data from its name,
the initial weights from the seeds, and phase 2's masks from each run's packed mask. So
a unit is small, can cross a process boundary, and trains the same wherever it runs.

Init modes (harness.training.initialisation): `random` draws nn.Linear's default init
from the run's init seed, `cut_width` wide and cut to the run's structure (0: at the
run's own widths); `random-own-width` draws at the run's own widths; `fixed` cuts every
run from one network, `fixed_network` (a shipped name, a path) or, when that is empty, a
`fixed_width`-wide network seeded by the run's init seed. Models narrower than the
unit's `layer_sizes` are padded with neurons that have no weights.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace

import torch

from algorithms.base import HyperParameters
from harness.training.datasets import Split
from harness.training.engines.base import SGDConfig
from harness.training.initialisation import Network, fixed_network, load_network, sub_network
from harness.training.population import Population, default_linear_init, schedule_code
from harness.training.records import population_records
from harness.training.run_spec import RunSpec
from harness.training.session import TrainingSession
from harness.training.trainer import ProgressFn
from store.masks import unpack_masks
from store.records import RunRecord


@dataclass(frozen=True)
class PlannedRun:
    """One model of a unit: what determines its result (`spec`, whose hash is `key`) and
    where its init and data order come from."""

    spec: RunSpec
    run_key: str
    init_seed: int
    data_seed: int

    @classmethod
    def of(cls, spec: RunSpec, init_seed: int, data_seed: int) -> PlannedRun:
        return cls(spec, spec.run_key(), int(init_seed), int(data_seed))


@dataclass(frozen=True)
class WorkUnit:
    """One population: its models (`runs`, all on `dataset` with `epochs`), padded into
    `layer_sizes`; trained plainly (`algorithm` empty: the search) or pruned by
    `algorithm` with its typed `params`. `label` names the unit in messages."""

    label: str
    dataset: str
    layer_sizes: tuple[int, ...]
    epochs: int
    runs: tuple[PlannedRun, ...]
    holdout: float = 0.0
    fixed_width: int = 16
    fixed_network: str = ""
    cut_width: int = 0
    algorithm: str = ""
    params: HyperParameters | None = field(default=None, compare=False)
    shared_order: bool = False

    @property
    def keys(self) -> list[str]:
        return [run.run_key for run in self.runs]

    @property
    def training_epochs(self) -> int:
        """Epochs each model trains in all: `epochs`, or what the algorithm says its
        trainings add up to (`training_epochs(epochs)`, e.g. LTH's rounds + 1)."""
        if not self.algorithm:
            return self.epochs
        from algorithms.registry import ALGORITHMS

        algorithm = ALGORITHMS[self.algorithm](self.params)
        count = getattr(algorithm, "training_epochs", None)
        return int(count(self.epochs)) if count is not None else self.epochs

    def without(self, done: set[str]) -> WorkUnit | None:
        """This unit less the runs whose keys are `done` (None when nothing is left)."""
        left = tuple(run for run in self.runs if run.run_key not in done)
        if len(left) == len(self.runs):
            return self
        return replace(self, runs=left) if left else None


def _initial(run: PlannedRun, unit: WorkUnit, cache: dict[tuple[object, ...], Network]) -> Network:
    widths = run.spec.widths
    depth = len(widths)
    if run.spec.init_mode == "fixed":
        source = unit.fixed_network or str(run.init_seed)
        key: tuple[object, ...] = ("fixed", source, unit.fixed_width, depth)
        if key not in cache:
            cache[key] = load_network(source, unit.fixed_width, depth)
        return sub_network(cache[key], widths)
    if run.spec.init_mode == "random" and unit.cut_width:
        return sub_network(fixed_network(unit.cut_width, depth, run.init_seed), widths)
    key = ("random", run.init_seed, widths)
    if key not in cache:
        cache[key] = default_linear_init((2, *widths, 1), run.init_seed)
    return cache[key]


def build_population(unit: WorkUnit) -> Population:
    """The unit's models, initialised per their init mode and padded into its sizes;
    a run with a packed mask (phase 2) is masked by it, the others are dense."""
    sizes, m = unit.layer_sizes, len(unit.runs)
    pairs = list(itertools.pairwise(sizes))
    weights = [torch.zeros(m, o, i) for i, o in pairs]
    biases = [torch.zeros(m, o) for _, o in pairs]
    masks = [torch.zeros(m, o, i, dtype=torch.bool) for i, o in pairs]
    cache: dict[tuple[object, ...], Network] = {}
    for k, run in enumerate(unit.runs):
        ws, bs = _initial(run, unit, cache)
        own = [tuple(w.shape) for w in ws]
        kept = None
        if run.spec.mask is not None:
            kept = unpack_masks(bytes.fromhex(run.spec.mask), own)
        for layer, (w, b) in enumerate(zip(ws, bs, strict=True)):
            o, i = w.shape
            weights[layer][k, :o, :i] = w
            biases[layer][k, :o] = b
            masks[layer][k, :o, :i] = True if kept is None else torch.from_numpy(kept[layer])
    population = Population(
        sizes, weights, biases, masks,
        lr=torch.tensor([r.spec.lr for r in unit.runs], dtype=torch.float64),
        schedule=torch.tensor([schedule_code(r.spec.schedule) for r in unit.runs]),
        data_seed=torch.tensor([r.data_seed for r in unit.runs], dtype=torch.int64),
        init_seed=torch.tensor([r.init_seed for r in unit.runs], dtype=torch.int64),
    )  # fmt: skip
    population.apply_masks()
    return population


def train_unit(
    unit: WorkUnit,
    split: Split,
    device: torch.device | str = "cpu",
    engine: str = "numba",
    progress: ProgressFn | None = None,
) -> list[RunRecord]:
    """Train (and, with an algorithm, prune) the unit's population on `split.train`;
    score it on `split.test`; one record per run, in the unit's order."""
    device = torch.device(device)
    population = build_population(unit).to(device)
    session = TrainingSession(
        population,
        split.train,
        SGDConfig(epochs=unit.epochs, shared_order=unit.shared_order),
        engine=engine,
        progress=progress,
    )
    started = time.perf_counter()
    if unit.algorithm:
        from algorithms.registry import ALGORITHMS

        targets = torch.tensor([r.spec.target_weight_nnz for r in unit.runs], dtype=torch.int64)
        ALGORITHMS[unit.algorithm](unit.params).run(session, targets.to(device))
    else:
        session.train()
    seconds = time.perf_counter() - started
    return population_records(session.population, unit.runs, split.test, device.type, seconds)
