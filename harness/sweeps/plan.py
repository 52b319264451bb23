"""A sweep spec as a plan: parts, each a list of stages, each a list of work units.

`plan_part` is a pure function of a part of a spec (after includes) and, for the stages
that depend on it, phase 1's outcome: called before phase 1 it plans what is known
(phase 1; phase 2 on a named structure; pruning from named widths), called again with
phase 1's minimal structures it plans phase 2 on the minimum and pruning from it. Every
unit carries its part's population size, data set and typed hyper-parameters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field, replace

from algorithms.hparams import HyperParameterError
from harness.errors import SpecError
from harness.search.config import Grid, Phase1Config, Phase2Config
from harness.search.masks import MaskLimitError
from harness.search.phases import phase1_units, phase2_units, plan_phase1, plan_phase2
from harness.sweeps.prune_runs import PruneGrid, hparams_from_tables, prune_units, valid_targets
from harness.sweeps.spec_file import SweepSpec, load_spec
from harness.training.unit import WorkUnit

STAGE_KINDS = ("phase1", "phase2", "prune")
MAX_RUNS = 2_000_000
"""The most runs a sweep may plan before phase 1 (they are listed, and keyed, up front)."""


@dataclass(frozen=True)
class Stage:
    """Units trained together and reported as one step of a sweep (kind: STAGE_KINDS)."""

    name: str
    kind: str
    units: tuple[WorkUnit, ...]

    @property
    def runs(self) -> int:
        return sum(len(u.runs) for u in self.units)


@dataclass(frozen=True)
class Found:
    """What phase 1 found: per accuracy target, the minimal structure (None: none
    reached it) and the seed of the run that reached it (the fixed init to prune)."""

    structures: Mapping[float, tuple[int, ...] | None] = field(default_factory=dict)
    seeds: Mapping[float, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class PartPlan:
    """A part's stages known now, and whether phase 1's outcome adds more."""

    part: SweepSpec
    stages: tuple[Stage, ...]
    phase2_follows: bool
    prune_follows: bool

    @property
    def runs(self) -> int:
        return sum(stage.runs for stage in self.stages)

    @property
    def units(self) -> list[WorkUnit]:
        return [unit for stage in self.stages for unit in stage.units]


def flatten(spec: SweepSpec) -> list[SweepSpec]:
    """The spec's included presets/files (recursively, in order), then the spec itself;
    a part over several fixed networks (`search.fixed_networks`) once per network."""
    parts: list[SweepSpec] = []
    for name in spec.include:
        parts += flatten(load_spec(name))
    if spec.search is not None or spec.prune is not None:
        parts += _per_network(spec)
    return parts


def _per_network(part: SweepSpec) -> list[SweepSpec]:
    search = part.search
    if search is None or search.fixed_networks is None:
        return [part]
    return [
        replace(
            part,
            name=f"{part.name} [{network}]",
            search=replace(search, fixed_network=network, fixed_networks=None),
        )
        for network in search.fixed_networks
    ]


def _network(network: str | int | None, init: str) -> str:
    """A fixed network as the units name it ("" for one seeded network per seed)."""
    return "" if network is None or init != "fixed" else str(network)


def _grid(part: SweepSpec, lrs: tuple[float, ...]) -> Grid:
    return Grid(lrs, part.schedules, part.seeds, part.epochs)


def phase1_config(part: SweepSpec) -> Phase1Config:
    assert part.search is not None
    return Phase1Config(
        max_width=part.search.max_width,
        init_mode=part.search.init,
        grid=_grid(part, part.search.lrs),
        fixed_network=_network(part.search.fixed_network, part.search.init),
    )


def phase2_config(part: SweepSpec, structure: tuple[int, ...]) -> Phase2Config:
    search = part.search
    assert search is not None
    return Phase2Config(
        structure=structure,
        init_mode=search.init,
        grid=_grid(part, search.phase2_lrs or search.lrs),
        max_masks=search.max_masks,
        symmetry=search.symmetry,  # type: ignore[arg-type]
        fixed_width=search.max_width,
        nnz=tuple(n or None for n in search.phase2_nnz) if search.phase2_nnz else None,
        fixed_network=_network(search.fixed_network, search.init),
    )


def prune_grid(
    part: SweepSpec, widths: tuple[tuple[int, ...], ...], fixed_seed: int | None = None
) -> PruneGrid:
    prune = part.prune
    assert prune is not None
    try:
        params = hparams_from_tables(prune.algorithms, prune.hparams, prune.init)
    except HyperParameterError as error:
        raise SpecError("prune.hparams", None, str(error)) from None
    return PruneGrid(
        algorithms=prune.algorithms,
        widths=widths,
        nnz=prune.nnz,
        lrs=part.lrs,
        schedules=part.schedules,
        seeds=part.seeds,
        epochs=part.epochs,
        init=prune.init,
        fixed_init_seed=fixed_seed,
        fixed_width=part.search.max_width if part.search else 16,
        fixed_network=_network(
            prune.fixed_network
            if prune.fixed_network is not None
            else (part.search.fixed_network if part.search else None),
            prune.init,
        ),
        dataset=part.dataset,
        holdout=part.holdout,
        params=params,
    )


def _runs_phase1(part: SweepSpec) -> bool:
    search = part.search
    return search is not None and (search.phase1 or (search.phase2 and search.structure is None))


def plan_part(part: SweepSpec, found: Found | None = None) -> PartPlan:
    """The stages of `part`: before phase 1 (`found` None) those known from the spec;
    with phase 1's outcome, those that depend on it."""
    search, prune, name = part.search, part.prune, part.name
    stages: list[Stage] = []
    phase2_follows = search is not None and search.phase2 and search.structure is None
    prune_follows = prune is not None and prune.from_search
    if found is None:
        if search is not None and _runs_phase1(part):
            config = phase1_config(part)
            units = phase1_units(config, part.dataset, part.population)
            stages.append(Stage(f"{name}: search phase 1", "phase1", tuple(units)))
        if search is not None and search.phase2 and search.structure is not None:
            stages.append(_phase2(part, search.structure))
        if prune is not None and not prune.from_search:
            widths = tuple((w, w, w) for w in prune.widths)
            stages.append(_prune(part, widths, None))
        return PartPlan(part, tuple(stages), phase2_follows, prune_follows)
    if phase2_follows:
        structure = next((s for s in found.structures.values() if s), None)
        if structure is not None:
            stages.append(_phase2(part, structure))
    if prune_follows:
        chosen = {s: found.seeds.get(t) for t, s in found.structures.items() if s is not None}
        stages += [_prune(part, (s,), seed) for s, seed in chosen.items()]
    return PartPlan(part, tuple(stages), False, False)


def _phase2(part: SweepSpec, structure: tuple[int, ...]) -> Stage:
    try:
        units = phase2_units(phase2_config(part, structure), part.dataset, part.population)
    except MaskLimitError as error:
        raise SpecError("search.max_masks", None, str(error)) from None
    except ValueError as error:
        raise SpecError("search.structure", None, str(error)) from None
    return Stage(f"{part.name}: search phase 2 on {structure}", "phase2", tuple(units))


def _prune(part: SweepSpec, widths: tuple[tuple[int, ...], ...], seed: int | None) -> Stage:
    units = prune_units(prune_grid(part, widths, seed), part.population)
    label = ", ".join(map(str, widths))
    return Stage(f"{part.name}: pruning from {label}", "prune", tuple(units))


def plan_sweep(spec: SweepSpec) -> list[PartPlan]:
    """Every part of the spec, planned as far as the spec alone says (counted first: over
    MAX_RUNS is a SpecError)."""
    parts = flatten(spec)
    check_size(parts)
    return [plan_part(part) for part in parts]


def count_part(part: SweepSpec) -> Counter[str]:
    """The runs plan_part(part) lists, per algorithm ('dense': phase 1, 'mask': phase 2),
    counted without listing them."""
    search, prune = part.search, part.prune
    runs: Counter[str] = Counter()
    if search is not None and _runs_phase1(part):
        runs["dense"] += plan_phase1(phase1_config(part)).trainings
    if search is not None and search.phase2 and search.structure is not None:
        try:
            runs["mask"] += plan_phase2(phase2_config(part, search.structure)).trainings
        except MaskLimitError as error:
            raise SpecError("search.max_masks", None, str(error)) from None
        except ValueError as error:
            raise SpecError("search.structure", None, str(error)) from None
    if prune is not None and not prune.from_search:
        grid = len(part.lrs) * len(part.schedules) * part.seeds
        targets = sum(len(valid_targets((w, w, w), prune.nnz)) for w in prune.widths)
        for algorithm in prune.algorithms:
            runs[algorithm] += grid * targets
    return +runs


def check_size(parts: list[SweepSpec]) -> int:
    """The runs `parts` plan before phase 1 (runs parts share counted per part); over
    MAX_RUNS is a SpecError."""
    total = sum(sum(count_part(part).values()) for part in parts)
    if total > MAX_RUNS:
        raise SpecError(
            "", None, f"plans {total:,} runs before phase 1, over the limit of {MAX_RUNS:,} "
            "in one sweep; narrow its grid or split it into several specs",
        )  # fmt: skip
    return total


@dataclass(frozen=True)
class PartSummary:
    """One part before it runs: the runs known now and what phase 1 decides later.
    new_runs: of `runs`, those no earlier part trains (the same run key);
    new_by_algorithm: of the new runs, how many per algorithm ('dense' for phase 1,
    'mask' for phase 2); stored: of the new runs, those the store already holds (a run
    of the spec skips them); model_epochs: the epochs the new runs not stored train in
    all, as each algorithm counts its trainings (LTH: rounds + 1 trainings)."""

    name: str
    runs: int
    new_runs: int
    phase2_follows: bool
    prune_follows: bool
    epochs: int
    new_by_algorithm: dict[str, int]
    model_epochs: int
    stored: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def summarize(plans: list[PartPlan], stored: AbstractSet[str] = frozenset()) -> list[PartSummary]:
    """Per part, its runs, those new to the sweep (parts share runs by run key), per
    algorithm, how many of those `stored` holds (run keys already in the store), and
    the cost in model-epochs of the rest."""
    summaries, seen = [], set[str]()
    for plan in plans:
        new: Counter[str] = Counter()
        model_epochs = in_store = 0
        for unit in plan.units:
            fresh = [r for r in unit.runs if r.run_key not in seen]
            seen.update(r.run_key for r in fresh)
            new[unit.runs[0].spec.algorithm] += len(fresh)
            kept = sum(r.run_key in stored for r in fresh)
            in_store += kept
            model_epochs += (len(fresh) - kept) * unit.training_epochs
        summaries.append(
            PartSummary(
                plan.part.name, plan.runs, sum(new.values()), plan.phase2_follows,
                plan.prune_follows, plan.part.epochs, {k: v for k, v in new.items() if v},
                model_epochs, in_store,
            )
        )  # fmt: skip
    return summaries
