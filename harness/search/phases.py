"""Planning phase 1 (every dense structure) and phase 2 (every mask of one structure)
into work units, and reading each phase's result from its records.

No training and no I/O here: the sweep driver (harness.sweeps) trains the units on an
executor and writes their records; these functions say what to train and what the
records mean.

Phase 1 pads each structure into a population whose widths are its own rounded up to 4,
8, 16, ... (capped at max_width): with max_width 16 that is 27 padded shapes, so small
structures do not pay for 16-wide padding and no population is tiny.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.search.config import REFERENCE_WIDTH, Phase1Config, Phase2Config
from harness.search.masks import (
    MaskSet,
    check_structure,
    count_structure_masks,
    enumerate_structure,
    pack_network_mask,
)
from harness.search.runs import init_hparams, make_run
from harness.search.selection import (
    FrontierPoint,
    MinimalStructure,
    ParetoPoint,
    check_targets,
    frontier,
    minimal_structures,
    pareto_curve,
)
from harness.training.initialisation import network_width
from harness.training.run_spec import INIT_MODES
from harness.training.unit import PlannedRun, WorkUnit
from store.records import RunRecord


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


def cut_width(init_mode: str, width: int) -> int:
    """The width a `random` search network is drawn at before it is cut to the structure:
    the reference's 16, or the search's widest structure when that is wider; 0 (own
    widths) for the other modes."""
    return max(REFERENCE_WIDTH, width) if init_mode == "random" else 0


def _init(init_mode: str, width: int, network: str) -> tuple[tuple[str, str], ...]:
    return init_hparams(init_mode, cut_width(init_mode, width) or width, network)


def phase1_runs(config: Phase1Config, dataset: str) -> list[PlannedRun]:
    init = _init(config.init_mode, config.max_width, config.fixed_network)
    return [
        make_run("search-phase1", "dense", dataset, widths, config.init_mode, point,
                 config.grid.epochs, init)
        for widths in phase1_structures(config)
        for point in config.grid.points()
    ]  # fmt: skip


def _check_init(init_mode: str, width: int, network: str) -> None:
    if init_mode not in INIT_MODES:
        raise ValueError(f"unknown init mode {init_mode!r}; choose {', '.join(INIT_MODES)}")
    if init_mode == "fixed" and network and (holds := network_width(network, width)) < width:
        raise ValueError(
            f"the fixed network {network} is {holds} wide; it cannot hold structures "
            f"up to {width} wide"
        )


def _chunks(
    label: str, groups: dict[tuple[int, ...], list[PlannedRun]], epochs: int,
    width: int, population: int, init_mode: str, network: str,
) -> list[WorkUnit]:  # fmt: skip
    return [
        WorkUnit(label, runs[0].spec.dataset, sizes, epochs,
                 tuple(runs[start : start + population]), fixed_width=width,
                 fixed_network=network, cut_width=cut_width(init_mode, width))
        for sizes, runs in groups.items()
        for start in range(0, len(runs), population)
    ]  # fmt: skip


def phase1_units(config: Phase1Config, dataset: str, population: int) -> list[WorkUnit]:
    """Phase 1's runs in populations of at most `population`, each of one padded shape
    (its structures' widths rounded up, see _bucket), structure by structure."""
    _check_init(config.init_mode, config.max_width, config.fixed_network)
    groups: dict[tuple[int, ...], list[PlannedRun]] = {}
    for run in phase1_runs(config, dataset):
        padded = tuple(_bucket(w, config.max_width) for w in run.spec.widths)
        groups.setdefault((2, *padded, 1), []).append(run)
    return _chunks("phase 1", groups, config.grid.epochs, config.max_width, population,
                   config.init_mode, config.fixed_network)  # fmt: skip


def phase1_result(plan: Plan, records: list[RunRecord], targets: Sequence[float]) -> Phase1Result:
    """The minimal structure per target among phase 1's records."""
    return Phase1Result(plan, records, minimal_structures(records, check_targets(targets)))


def plan_phase1(config: Phase1Config) -> Plan:
    _check_init(config.init_mode, config.max_width, config.fixed_network)
    config.grid.validate()
    structures = len(phase1_structures(config))
    return Plan(1, None, structures, structures * len(config.grid.points()))


def _phase2_sizes(config: Phase2Config) -> tuple[int, ...]:
    sizes = check_structure((2, *config.structure, 1))
    if config.init_mode == "fixed" and max(sizes[1:-1]) > config.fixed_width:
        raise ValueError(
            f"structure {tuple(config.structure)} does not fit in the fixed "
            f"{config.fixed_width}-wide network"
        )
    return sizes


def _phase2_width(config: Phase2Config) -> int:
    """The width phase 2's networks are cut from (a structure wider than max_width widens
    a random network; a fixed one must hold it)."""
    if config.init_mode == "fixed":
        return config.fixed_width
    return max(config.fixed_width, *config.structure)


def phase2_masks(config: Phase2Config) -> MaskSet:
    return enumerate_structure(_phase2_sizes(config), config.nnz, config.symmetry, config.max_masks)


def phase2_runs(
    config: Phase2Config, mask_set: MaskSet, dataset: str, mask_ids: Sequence[int] | None = None
) -> list[PlannedRun]:
    """Every network of `mask_set` (or those `mask_ids`) over the grid, mask by mask."""
    widths = tuple(config.structure)
    points = config.grid.points()
    init = _init(config.init_mode, _phase2_width(config), config.fixed_network)
    ids = np.arange(len(mask_set)) if mask_ids is None else np.asarray(mask_ids, np.int64)
    runs = []
    for start in range(0, len(ids), 4096):
        chunk = ids[start : start + 4096]
        batch = mask_set.take(chunk)
        for k in range(len(chunk)):
            mask_hex = pack_network_mask([layer[k] for layer in batch]).hex()
            runs += [
                make_run("search-phase2", "mask", dataset, widths, config.init_mode,
                         point, config.grid.epochs, init, mask_hex)
                for point in points
            ]  # fmt: skip
    return runs


def plan_phase2(config: Phase2Config) -> Plan:
    """Counted, not listed; raises MaskLimitError over `config.max_masks`."""
    _check_init(config.init_mode, config.fixed_width, config.fixed_network)
    config.grid.validate()
    sizes = _phase2_sizes(config)
    masks = count_structure_masks(sizes, config.nnz, config.symmetry, config.max_masks)
    if masks > config.max_masks:
        enumerate_structure(sizes, config.nnz, config.symmetry, config.max_masks)  # raises
    return Plan(2, tuple(config.structure), masks, masks * len(config.grid.points()))


def phase2_units(
    config: Phase2Config, dataset: str, population: int, mask_set: MaskSet | None = None
) -> list[WorkUnit]:
    """Phase 2's runs (every mask of the structure over the grid) in populations of at
    most `population`; `mask_set` when the caller has enumerated it already."""
    _check_init(config.init_mode, config.fixed_width, config.fixed_network)
    config.grid.validate()
    mask_set = mask_set if mask_set is not None else phase2_masks(config)
    runs = phase2_runs(config, mask_set, dataset)
    sizes = (2, *config.structure, 1)
    groups = {sizes: runs} if runs else {}
    label = f"phase 2 on {tuple(config.structure)}"
    return _chunks(label, groups, config.grid.epochs, _phase2_width(config), population,
                   config.init_mode, config.fixed_network)  # fmt: skip


def phase2_result(plan: Plan, records: list[RunRecord], targets: Sequence[float]) -> Phase2Result:
    """Phase 2's frontier per target and its Pareto curve."""
    return Phase2Result(
        plan, records, frontier(records, check_targets(targets)), pareto_curve(records)
    )
