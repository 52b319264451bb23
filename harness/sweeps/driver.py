"""Sweeps: a spec becomes stages (search phase 1, phase 2, pruning), each stage runs its
populations on an executor, and every finished population lands in the store.

A sweep is resumable by construction: every run has a run key, stages skip the keys the
store already has, so rerunning an interrupted sweep finishes only what is missing. The
rerun takes over the sweep's id if it did not finish (ResultsStore.start_sweep).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from harness.search.config import Grid, Phase1Config, Phase2Config, Runner
from harness.search.phases import (
    Phase1Result,
    phase1_runs,
    plan_phase1,
    plan_phase2,
    run_phase1,
    run_phase2,
)
from harness.search.runs import SearchRun
from harness.sweeps.events import EventFn, SweepEvent
from harness.sweeps.executors import Executor, LocalExecutor
from harness.sweeps.prune_runs import PruneGrid, PruneProgress, PruneRun, expand_grid
from harness.sweeps.spec_file import SweepSpec, load_spec
from store.db import ResultsStore


@dataclass
class SweepSummary:
    sweep_id: int
    runs_done: int
    seconds: float
    minimal_structures: dict[float, tuple[int, ...] | None] = field(default_factory=dict)


def flatten(spec: SweepSpec) -> list[SweepSpec]:
    """The spec's included presets/files (recursively, in order), then the spec itself."""
    parts: list[SweepSpec] = []
    for name in spec.include:
        parts += flatten(load_spec(name))
    if spec.search is not None or spec.prune is not None:
        parts.append(spec)
    return parts


@dataclass(frozen=True)
class PartPlan:
    """One part of a spec before it runs: the runs known now, and what phase 1 decides
    later (phase 2 on its minimal structure; pruning from that structure).
    new_by_algorithm: of the new runs, how many per algorithm ('dense' for phase 1,
    'mask' for phase 2), each training `epochs` epochs."""

    name: str
    runs: int
    new_runs: int  # of `runs`, those no earlier part of the spec trains (the same run key)
    phase2_follows: bool
    prune_follows: bool
    epochs: int
    new_by_algorithm: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def plan(spec: SweepSpec) -> list[PartPlan]:
    """What `SweepRun(spec, ...).run()` will train, part by part, without training."""
    sweep = SweepRun(spec, store=None, executor=_NoExecutor())  # type: ignore[arg-type]
    plans, seen = [], set[str]()
    for part in flatten(spec):
        search, prune = part.search, part.prune
        known = [(run.key, "dense") for run in sweep.planned_phase1_runs(part)]
        known += [(run.run_key, run.spec.algorithm) for run in sweep.planned_prune_runs(part)]
        phase2 = sweep.planned_phase2_runs(part)
        new = Counter(algorithm for key, algorithm in known if key not in seen)
        if phase2:
            new["mask"] += phase2
        plans.append(
            PartPlan(
                part.name,
                len(known) + phase2,
                sum(new.values()),
                search is not None and search.phase2 and search.structure is None,
                prune is not None and prune.from_search,
                part.epochs,
                dict(new),
            )
        )
        seen |= {key for key, _ in known}
    return plans


class _NoExecutor:
    """SweepRun wants an executor; planning never trains, so none is started."""


class SweepRun:
    """One execution of a spec against a store, reporting events as it goes."""

    def __init__(
        self,
        spec: SweepSpec,
        store: ResultsStore,
        on_event: EventFn | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.on_event = on_event or (lambda _: None)
        self.executor = executor or LocalExecutor(spec.device, spec.engine)
        self.sweep_id = 0
        self.done = 0
        self.total = 0
        self.stage = ""
        self.started = time.perf_counter()
        self._stage_done = 0

    # -- reporting ---------------------------------------------------------------------

    def emit(self, event: str, message: str = "") -> None:
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        self.on_event(
            SweepEvent(event, self.sweep_id, self.done, self.total, rate, eta, self.stage, message)
        )

    def _progress(self, stage_done: float) -> None:
        stage_done = int(stage_done)
        self.done += stage_done - self._stage_done
        self._stage_done = stage_done
        self.emit("progress")

    def _begin_stage(self, name: str) -> None:
        self.stage = name
        self._stage_done = 0
        self.emit("stage", name)

    # -- planning ----------------------------------------------------------------------

    def _runner(self, part: SweepSpec) -> Runner:
        return self.executor.runner(part.dataset, part.population, self.sweep_id)

    def _grid(self, part: SweepSpec, lrs: tuple[float, ...]) -> Grid:
        return Grid(lrs, part.schedules, part.seeds, part.epochs)

    def _phase1(self, part: SweepSpec) -> Phase1Config:
        assert part.search is not None
        return Phase1Config(
            max_width=part.search.max_width,
            init_mode=part.search.init,
            grid=self._grid(part, part.search.lrs),
        )

    def _phase2(self, part: SweepSpec, structure: tuple[int, ...]) -> Phase2Config:
        assert part.search is not None
        lrs = part.search.phase2_lrs or part.search.lrs
        return Phase2Config(
            structure=structure,
            init_mode=part.search.init,
            grid=self._grid(part, lrs),
            max_masks=part.search.max_masks,
            symmetry=part.search.symmetry,  # type: ignore[arg-type]
            fixed_width=part.search.max_width,
            nnz=tuple(n or None for n in part.search.phase2_nnz)
            if part.search.phase2_nnz
            else None,
        )

    def _prune_grid(
        self, part: SweepSpec, widths: tuple[tuple[int, ...], ...], fixed_seed: int | None
    ) -> PruneGrid:
        assert part.prune is not None
        hparams = tuple(
            f"{name}.{key}={value}"
            for name, table in part.prune.hparams.items()
            for key, value in table.items()
        )
        return PruneGrid(
            algorithms=part.prune.algorithms,
            widths=widths,
            nnz=part.prune.nnz,
            lrs=part.lrs,
            schedules=part.schedules,
            seeds=part.seeds,
            epochs=part.epochs,
            init=part.prune.init,
            fixed_init_seed=fixed_seed,
            fixed_width=part.search.max_width if part.search else 16,
            dataset=part.dataset,
            holdout=part.holdout,
            hparams=hparams,
        )

    def planned_runs(self, part: SweepSpec) -> int:
        """Runs known before training (phase 2 counts only with an explicit structure)."""
        count = self.planned_phase2_runs(part) + len(self.planned_prune_runs(part))
        if part.search is not None and part.search.phase1:
            count += plan_phase1(self._phase1(part)).trainings
        return count

    def planned_phase1_runs(self, part: SweepSpec) -> list[SearchRun]:
        if part.search is None or not part.search.phase1:
            return []
        return phase1_runs(self._phase1(part), part.dataset)

    def planned_phase2_runs(self, part: SweepSpec) -> int:
        """Phase 2's trainings when the spec names the structure (else phase 1 decides)."""
        search = part.search
        if search is None or not search.phase2 or search.structure is None:
            return 0
        return plan_phase2(self._phase2(part, search.structure)).trainings

    def planned_prune_runs(self, part: SweepSpec) -> list[PruneRun]:
        """The pruning runs known before training (not those from the search's minimum)."""
        if part.prune is None or part.prune.from_search:
            return []
        widths = tuple((w, w, w) for w in part.prune.widths)
        return expand_grid(self._prune_grid(part, widths, None), strict=False)

    # -- running -----------------------------------------------------------------------

    def run(self) -> SweepSummary:
        parts = flatten(self.spec)
        spec_json = json.dumps(asdict(self.spec), default=list)
        self.store.add_targets(self.spec.targets)
        self.sweep_id, resumed = self.store.start_sweep(self.spec.name, spec_json)
        self.total = sum(self.planned_runs(part) for part in parts)
        self.emit("start")
        if resumed is not None:
            self._log(f"resuming sweep {self.sweep_id} ({resumed}): only missing runs train")
        summary = SweepSummary(self.sweep_id, 0, 0.0)
        try:
            for part in parts:
                self.store.add_targets(part.targets)
                self._run_part(part, summary)
        except BaseException as error:
            status = "cancelled" if isinstance(error, KeyboardInterrupt) else "failed"
            self.store.set_sweep_status(self.sweep_id, status)
            raise
        self.store.set_sweep_status(self.sweep_id, "done")
        summary.runs_done = self.done
        summary.seconds = time.perf_counter() - self.started
        self.emit("done")
        return summary

    def _log(self, message: str) -> None:
        self.emit("log", message)

    def _run_part(self, part: SweepSpec, summary: SweepSummary) -> None:
        minimal: dict[float, tuple[int, ...] | None] = {}
        fixed_seed: dict[float, int | None] = {}
        search = part.search
        if search is not None and (search.phase1 or (search.phase2 and search.structure is None)):
            self._begin_stage(f"{part.name}: search phase 1")
            result: Phase1Result = run_phase1(
                self._phase1(part), self._runner(part), self.store, part.targets,
                log=self._log, progress=lambda done, total: self._progress(done),
            )  # fmt: skip
            self._progress(result.plan.trainings)
            for choice in result.minimal:
                minimal[choice.target] = tuple(choice.run.widths) if choice.run else None
                fixed_seed[choice.target] = choice.run.seed if choice.run else None
            summary.minimal_structures.update(minimal)
        if search is not None and search.phase2:
            structure = search.structure or next((s for s in minimal.values() if s), None)
            if structure is None:
                self._log("phase 2 skipped: no structure reached the first accuracy target")
            else:
                config = self._phase2(part, structure)
                if search.structure is None:
                    self.total += plan_phase2(config).trainings
                self._begin_stage(f"{part.name}: search phase 2 on {structure}")
                phase2 = run_phase2(
                    config, self._runner(part), self.store, part.targets,
                    log=self._log, progress=lambda done, total: self._progress(done),
                )  # fmt: skip
                self._progress(phase2.plan.trainings)
        if part.prune is not None:
            self._run_prune(part, minimal, fixed_seed)

    def _run_prune(
        self,
        part: SweepSpec,
        minimal: dict[float, tuple[int, ...] | None],
        fixed_seed: dict[float, int | None],
    ) -> None:
        assert part.prune is not None
        if part.prune.from_search:
            chosen = [(s, fixed_seed[t]) for t, s in minimal.items() if s is not None]
            if not chosen:
                self._log("pruning from the search skipped: no minimal structure was found")
                return
            grids = [self._prune_grid(part, (s,), seed) for s, seed in dict(chosen).items()]
            for grid in grids:
                self.total += len(expand_grid(grid, strict=False))
        else:
            widths = tuple((w, w, w) for w in part.prune.widths)
            grids = [self._prune_grid(part, widths, None)]
        for grid in grids:
            self._begin_stage(f"{part.name}: pruning from {', '.join(map(str, grid.widths))}")

            def report(p: PruneProgress) -> None:
                self._progress(p.runs_done)

            self.executor.prune(grid, self.store, report, self.sweep_id)
