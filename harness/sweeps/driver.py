"""The sweep driver: a spec's plan (harness.sweeps.plan) trained stage by stage on an
executor, every finished population written to the store, events reported as it goes.

The driver is the only writer: executors hand back records, the driver writes one
population per transaction and skips run keys the store already has, so a rerun of an
interrupted sweep finishes only what is missing (under the same sweep id, see
ResultsStore.start_sweep). The whole spec is planned, and so validated, before anything
is written.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from harness.search.selection import minimal_structures
from harness.sweeps.events import EventFn, SweepEvent
from harness.sweeps.executors import Executor, LocalExecutor
from harness.sweeps.plan import Found, PartPlan, Stage, plan_part, plan_sweep
from harness.sweeps.projection import Cost, CostClass, cost_class, unit_seconds
from harness.sweeps.spec_file import EXECUTION_KEYS, SweepSpec
from harness.sweeps.stages import Meter, pending, train_units
from harness.training.unit import WorkUnit
from store.db import ResultsStore
from store.records import RunRecord


@dataclass
class SweepSummary:
    sweep_id: int
    runs_done: int
    seconds: float
    minimal_structures: dict[float, tuple[int, ...] | None] = field(default_factory=dict)


class SweepDriver:
    """One execution of a spec against a store, reporting events as it goes.

    With `costs` (this machine's calibration, harness.sweeps.projection) covering every
    unit, the ETA weighs the runs left by their projected seconds, scaled by how the runs
    trained so far compare with theirs: a sweep whose costliest runs come last is not
    projected at its cheap start's pace. Without them (or once a stage phase 1 decides
    brings an uncalibrated class), the ETA is the runs left at this process's run rate.
    """

    def __init__(
        self,
        spec: SweepSpec,
        store: ResultsStore,
        on_event: EventFn | None = None,
        executor: Executor | None = None,
        plans: list[PartPlan] | None = None,
        costs: dict[CostClass, Cost] | None = None,
    ) -> None:
        self.spec = spec
        self.plans = plans
        self.costs = costs
        self.projected_total = 0.0  # seconds of the runs planned, less those found stored
        self.projected_done = 0.0  # seconds (projected) of the runs trained so far
        self.store = store
        self.on_event = on_event or (lambda _: None)
        self.executor = executor or LocalExecutor(spec.device, spec.engine)
        self.sweep_id = 0
        self.done = 0.0
        self.stored = 0  # of `done`, runs the store already had (a resumed sweep's)
        self.total = 0
        self.stage = ""
        self.started = time.perf_counter()

    def emit(self, event: str, message: str = "") -> None:
        elapsed = time.perf_counter() - self.started
        trained = self.done - self.stored  # the rate is this process's, not the store's
        rate = trained / elapsed if elapsed > 0 and trained > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        if self.costs is not None and self.projected_done > 0 and rate > 0:
            left = max(0.0, self.projected_total - self.projected_done)
            eta = elapsed * left / self.projected_done
        executor = self.executor
        self.on_event(
            SweepEvent(
                event, self.sweep_id, int(self.done), self.total, rate, eta, self.stage,
                message, executor.name, executor.workers, executor.in_flight, executor.nodes,
            )
        )  # fmt: skip

    def run(self) -> SweepSummary:
        # planning validates every part before anything is written
        plans = self.plans if self.plans is not None else plan_sweep(self.spec)
        self.total = sum(plan.runs for plan in plans)
        self._add_projected([unit for plan in plans for unit in plan.units])
        identity = {k: v for k, v in asdict(self.spec).items() if k not in EXECUTION_KEYS}
        spec_json = json.dumps(identity, default=list)
        self.store.add_targets(self.spec.targets)
        self.sweep_id, resumed = self.store.start_sweep(self.spec.name, spec_json)
        summary = SweepSummary(self.sweep_id, 0, 0.0)
        try:  # from here on, whatever stops the sweep is its status
            self.emit("start")
            if resumed is not None:
                self.emit("log", f"resuming sweep {self.sweep_id} ({resumed}): "
                                 "only missing runs train")  # fmt: skip
            for plan in plans:
                self.store.add_targets(plan.part.targets)
                summary.minimal_structures.update(self._run_part(plan))
        except BaseException as error:
            status = "cancelled" if isinstance(error, KeyboardInterrupt) else "failed"
            self.store.set_sweep_status(self.sweep_id, status)
            raise
        self.store.set_sweep_status(self.sweep_id, "done")
        summary.runs_done = int(self.done)
        summary.seconds = time.perf_counter() - self.started
        self.emit("done")
        return summary

    def _run_part(self, plan: PartPlan) -> dict[float, tuple[int, ...] | None]:
        found = Found()
        for stage in plan.stages:
            records = self._run_stage(stage)
            if stage.kind == "phase1":
                found = self._found(records, plan.part.targets)
        if plan.phase2_follows or plan.prune_follows:
            later = plan_part(plan.part, found)
            if plan.phase2_follows and not any(s.kind == "phase2" for s in later.stages):
                self.emit("log", "phase 2 skipped: no structure reached the first accuracy target")
            if plan.prune_follows and not any(s.kind == "prune" for s in later.stages):
                self.emit("log", "pruning from the search skipped: no minimal structure was found")
            self.total += later.runs
            self._add_projected([unit for stage in later.stages for unit in stage.units])
            for stage in later.stages:
                self._run_stage(stage)
        return dict(found.structures)

    def _run_stage(self, stage: Stage) -> list[RunRecord]:
        """Train what the store lacks of `stage`; its records (with those already done
        when the stage is phase 1, whose result needs them all)."""
        self.stage = stage.name
        self.emit("stage", stage.name)
        left = pending(stage.units, self.store)
        self.stored += len(left.done_keys)
        if left.done_keys:
            self.emit("log", f"{stage.name}: {len(left.done_keys):,} runs already done, "
                             f"{left.runs:,} to train")  # fmt: skip
        base = self.done
        meter = self._meter(stage, left.units)

        def progress(stage_done: float) -> None:
            self.done = base + stage_done
            self.emit("progress")

        trained = train_units(left, self.executor, self.store, progress, self.sweep_id, meter)
        self.done = base + stage.runs
        self.emit("progress")
        if stage.kind != "phase1" or not left.done_keys:
            return trained
        return trained + self.store.read_runs(left.done_keys)

    def _add_projected(self, units: list[WorkUnit]) -> None:
        """Count `units` into the projected total; drop the weighting if one lacks a cost."""
        if self.costs is None:
            return
        if any(cost_class(unit) not in self.costs for unit in units):
            self.costs = None
            return
        self.projected_total += sum(unit_seconds(unit, self.costs) for unit in units)

    def _meter(self, stage: Stage, left: list[WorkUnit]) -> Meter | None:
        """Take the stage's stored runs out of the projected total; the meter that tells
        the driver the projected seconds trained as the rest trains."""
        costs = self.costs
        if costs is None:
            return None
        weights = {id(unit): unit_seconds(unit, costs) for unit in left}
        self.projected_total -= sum(unit_seconds(u, costs) for u in stage.units)
        self.projected_total += sum(weights.values())
        base = self.projected_done

        def report(stage_done: float) -> None:
            self.projected_done = base + stage_done

        def weigh(unit: WorkUnit) -> float:
            known = weights.get(id(unit))
            return unit_seconds(unit, costs) if known is None else known

        return Meter(weigh, report)

    def _found(self, records: list[RunRecord], targets: tuple[float, ...]) -> Found:
        minimal = minimal_structures(records, targets)
        structures = {c.target: tuple(c.run.widths) if c.run else None for c in minimal}
        seeds = {c.target: c.run.seed if c.run else None for c in minimal}
        for target, structure in structures.items():
            self.emit("log", f"minimal structure for {target:.1%}: {structure or 'none'}")
        return Found(structures, seeds)
