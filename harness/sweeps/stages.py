"""Training planned units into a sink: the one place finished populations are written
(one `write_runs` per population, skipping run keys the sink already has). The sweep
driver and the `search` and `prune` commands all train through here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from harness.search.config import Phase1Config, Phase2Config
from harness.search.phases import (
    Phase1Result,
    Phase2Result,
    Plan,
    phase1_result,
    phase1_units,
    phase2_masks,
    phase2_result,
    phase2_units,
    plan_phase1,
)
from harness.search.throughput import estimate_time
from harness.sweeps.executors import Executor
from harness.sweeps.result_sink import ReadableSink, ResultSink
from harness.timefmt import format_duration
from harness.training.datasets import load_dataset
from harness.training.records import stamp
from harness.training.unit import WorkUnit
from store.records import RunRecord

LogFn = Callable[[str], None]
ProgressFn = Callable[[float], None]
"""Runs done so far in the stage (already done ones included; fractional while a
population trains)."""


@dataclass(frozen=True)
class Meter:
    """Work measured in projected seconds rather than runs: `weigh` gives a unit's
    projected seconds, `report` is told the projected seconds done so far in the stage."""

    weigh: Callable[[WorkUnit], float]
    report: ProgressFn


@dataclass(frozen=True)
class Pending:
    """What is left of a stage's units once the sink's runs are taken out."""

    units: list[WorkUnit]
    done_keys: list[str]

    @property
    def runs(self) -> int:
        return sum(len(u.runs) for u in self.units)


def stored_keys(units: Iterable[WorkUnit], sink: ResultSink) -> set[str]:
    """The run keys of `units` the sink already has (what a rerun skips)."""
    keys = [key for unit in units for key in unit.keys]
    done: set[str] = set()
    for start in range(0, len(keys), 10_000):
        done |= sink.done_keys(keys[start : start + 10_000])
    return done


def pending(units: Sequence[WorkUnit], sink: ResultSink) -> Pending:
    done = stored_keys(units, sink)
    left = [u for u in (unit.without(done) for unit in units) if u is not None]
    return Pending(left, [key for unit in units for key in unit.keys if key in done])


def train_units(
    left: Pending,
    executor: Executor,
    sink: ResultSink,
    progress: ProgressFn | None = None,
    sweep_id: int | None = None,
    meter: Meter | None = None,
) -> list[RunRecord]:
    """Train the pending units on `executor`, writing each population as it finishes;
    the new records. `progress` hears the runs done, `meter` the projected seconds."""
    base = len(left.done_keys)
    finished, weighed = 0, 0.0  # units done: their runs, their projected seconds
    in_flight: dict[int, tuple[WorkUnit, float]] = {}  # the share done of each unit training

    def report() -> None:  # the meter first: a progress event reads what it was told
        shares = in_flight.values()
        if meter is not None:
            meter.report(weighed + sum(meter.weigh(u) * share for u, share in shares))
        if progress is not None:
            progress(base + finished + sum(len(u.runs) * share for u, share in shares))

    def step(unit: WorkUnit, done: int, total: int) -> None:
        in_flight[id(unit)] = unit, done / max(total, 1)
        report()

    report()
    trained: list[RunRecord] = []
    for unit, records in executor.run(left.units, step):
        records = stamp(records, sweep_id)
        sink.write_runs(records)
        trained += records
        in_flight.pop(id(unit), None)
        finished += len(unit.runs)
        weighed += meter.weigh(unit) if meter is not None else 0.0
        report()
    return trained


def _all_records(
    trained: list[RunRecord], done_keys: list[str], sink: ResultSink, log: LogFn
) -> list[RunRecord]:
    if not done_keys:
        return trained
    if isinstance(sink, ReadableSink):
        return trained + sink.read_runs(done_keys)
    log(f"{len(done_keys):,} runs were already done and this store cannot return them; "
        "the summary covers this call's runs only")  # fmt: skip
    return trained


def _announce(
    log: LogFn, what: str, plan: Plan, left: Pending, executor: Executor, calibrate_steps: int,
    dataset: str, epochs: int, population: int,
) -> None:  # fmt: skip
    line = (
        f"{what}: {plan.masks:,} {'structures' if plan.phase == 1 else 'masks'}, "
        f"{plan.trainings:,} trainings, {len(left.done_keys):,} already done, "
        f"{left.runs:,} to train"
    )
    groups: dict[tuple[int, ...], int] = {}
    for unit in left.units:
        groups[unit.layer_sizes] = groups.get(unit.layer_sizes, 0) + len(unit.runs)
    estimate = estimate_time(
        groups, load_dataset(dataset), epochs,
        executor.device, executor.engine, population, calibrate_steps,
    ) if calibrate_steps > 0 else None  # fmt: skip
    if estimate is not None:
        seconds, rate = estimate
        line += f"; about {format_duration(seconds)} ({rate:,.0f} model-epochs/s measured)"
    log(line)


@dataclass(frozen=True)
class SearchContext:
    """Where a search's phases train and report: executor and sink, models per
    population, the accuracy targets, and how they talk back."""

    executor: Executor
    sink: ResultSink
    dataset: str = "cubist-spiral"
    population: int = 512
    targets: Sequence[float] = (0.95, 0.995)
    log: LogFn = lambda _: None
    progress: ProgressFn | None = None
    sweep_id: int | None = None
    calibrate_steps: int = 20


def run_phase1(config: Phase1Config, context: SearchContext) -> Phase1Result:
    """Every dense structure over the grid; the minimal structure per target."""
    plan = plan_phase1(config)
    left = pending(phase1_units(config, context.dataset, context.population), context.sink)
    return phase1_result(plan, _run_search(plan, "phase 1", left, context, config.grid.epochs),
                         context.targets)  # fmt: skip


def run_phase2(config: Phase2Config, context: SearchContext) -> Phase2Result:
    """Every mask of `config.structure` over the grid; the frontier and Pareto curve."""
    config.grid.validate()
    mask_set = phase2_masks(config)
    plan = Plan(2, tuple(config.structure), len(mask_set),
                len(mask_set) * len(config.grid.points()))  # fmt: skip
    units = phase2_units(config, context.dataset, context.population, mask_set)
    left = pending(units, context.sink)
    what = f"phase 2 on {tuple(config.structure)}"
    records = _run_search(plan, what, left, context, config.grid.epochs)
    return phase2_result(plan, records, context.targets)


def _run_search(
    plan: Plan, what: str, left: Pending, context: SearchContext, epochs: int
) -> list[RunRecord]:
    _announce(context.log, what, plan, left, context.executor, context.calibrate_steps,
              context.dataset, epochs, context.population)  # fmt: skip
    trained = train_units(left, context.executor, context.sink, context.progress,
                          context.sweep_id)  # fmt: skip
    return _all_records(trained, left.done_keys, context.sink, context.log)
