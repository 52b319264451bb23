"""`sparsest bench --suite ray`: what the Ray executor costs here, and what N machines buy.

Measured in one run, on this machine, on one spec (default `quick`), each sweep into its
own fresh store: the local executor; the Ray executor on a private local instance with 1
worker and with one worker per core (its wall time includes starting and stopping Ray);
and the cost of an empty task through the same remote function (`task_overhead_ms`).

The projection for N machines of k workers each (from the run with a worker per core):

    T(N) = startup + shutdown + driver + sum over stages of
           max((W_s + max(n_s, 2 N k) * o) / (N * k), F_s)

W_s: the seconds a stage's tasks took on the workers; n_s: its tasks (the executor cuts
at least two pieces per worker, so a bigger cluster gets more); o: the empty-task cost;
F_s: the stage's floor, the longest its smallest task could take (its slowest models,
cut to pieces of MIN_PIECE_RUNS or to a whole small unit; a stage cannot end before it,
and stages run one after the other, as phase 2 waits for phase 1); driver: the time the
sweep spent writing finished populations, which one process does. `model_check_*`
compares the model's figure for one worker with the measured one (W_s was measured with
every core busy, so it errs long where cores share caches, memory and clocks).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.sweeps.driver import SweepDriver
from harness.sweeps.executors import Executor, LocalExecutor
from harness.sweeps.plan import plan_sweep
from harness.sweeps.projection import cpu_name
from harness.sweeps.ray_executor import RayExecutor, RayOptions, RayStats
from harness.sweeps.spec_file import load_spec
from store.db import ResultsStore

MACHINES = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class ExecutorFigures:
    cpu: str
    cores: int
    spec: str
    runs: int
    local_s: float
    ray_1_worker_s: float
    ray_s: float
    """With a worker per core."""
    ray_overhead: float
    """ray_s / local_s - 1."""
    ray_2_over_1: float
    ray_startup_s: float
    ray_shutdown_s: float
    task_overhead_ms: float
    tasks: int
    driver_s: float
    model_check_1_worker_s: float
    projected_s: dict[int, float] = field(default_factory=dict)
    """Machines -> seconds, for machines like this one."""


def projected_seconds(stats: RayStats, overhead_s: float, slots: int) -> float:
    """The model above for `slots` = N * k workers."""
    stages = sum(
        max((s.worker_s + max(s.tasks, 2 * slots) * overhead_s) / slots, s.floor_s)
        for s in stats.stages
    )
    return stats.startup_s + stats.shutdown_s + stats.driver_s + stages


def _sweep(spec_name: str, executor: Executor, folder: Path, label: str) -> tuple[float, int]:
    """Wall seconds of the whole sweep (the executor opened and closed inside), runs."""
    spec = load_spec(spec_name)
    plans = plan_sweep(spec)
    store = ResultsStore(folder / f"{label}.duckdb")
    store.initialize()
    started = time.perf_counter()
    with executor:
        summary = SweepDriver(spec, store, executor=executor, plans=plans).run()
    return time.perf_counter() - started, summary.runs_done


def executor_figures(spec_name: str = "quick") -> ExecutorFigures:
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="sparsest-bench-ray-") as tmp:
        folder = Path(tmp)
        local_s, runs = _sweep(spec_name, LocalExecutor("cpu"), folder, "local")
        wide = RayExecutor("cpu", "auto", RayOptions(local_cpus=cores))
        ray_s, _ = _sweep(spec_name, wide, folder, "ray")
        with RayExecutor("cpu", "auto", RayOptions(local_cpus=cores)) as probe:
            overhead_s = probe.round_trip_s()
        one = RayExecutor("cpu", "auto", RayOptions(local_cpus=1))
        ray_1_s, _ = _sweep(spec_name, one, folder, "ray1")
    stats = wide.stats
    return ExecutorFigures(
        cpu=cpu_name(),
        cores=cores,
        spec=spec_name,
        runs=runs,
        local_s=local_s,
        ray_1_worker_s=ray_1_s,
        ray_s=ray_s,
        ray_overhead=ray_s / local_s - 1,
        ray_2_over_1=ray_1_s / ray_s,
        ray_startup_s=stats.startup_s,
        ray_shutdown_s=stats.shutdown_s,
        task_overhead_ms=overhead_s * 1e3,
        tasks=sum(s.tasks for s in stats.stages),
        driver_s=stats.driver_s,
        model_check_1_worker_s=projected_seconds(stats, overhead_s, 1),
        projected_s={n: projected_seconds(stats, overhead_s, n * wide.workers) for n in MACHINES},
    )
