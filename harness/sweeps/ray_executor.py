"""The Ray executor: work units trained as Ray tasks, on a local instance or a cluster.

The driver (this process) keeps a bounded number of tasks in flight, collects finished
populations as they complete and hands them to the sweep, which alone writes the store;
workers never open it. A task carries units only (plain picklable data): each worker
process rebuilds a data set from its name once and keeps it, and loads the numba
kernels once (they are cached on disk), for all the tasks it runs.

Pieces and tasks: a stage's units are first split into pieces (sub-populations; a
model's result does not depend on its companions, see harness.training.data_order) so
that every worker has work, then packed into tasks of about `task_seconds` each, timed
by the tasks already done. Splitting never touches a unit whose models share one data
order (`shared_order`).

Faults: a worker process that dies mid-task costs that task, which Ray retries
(`max_retries`); a task that raises fails the sweep with one line naming the unit, once
the tasks still in flight have finished and been handed back.

Ray is an optional extra (`pip install -e ".[ray]"`). Without an address the executor
starts a private Ray instance whose every server listens on 127.0.0.1 only, and stops it
when the sweep ends.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.errors import UserError
from harness.sweeps.executors import UnitProgressFn
from harness.training.unit import WorkUnit
from store.records import RunRecord

INSTALL_HINT = 'install it with: pip install -e ".[ray]" (or pip install "ray>=2.40")'
MIN_PIECE_RUNS = 8
"""The fewest models a split piece keeps: below, a population's batching is lost."""


class UnitFailed(UserError):
    """A task raised (or its worker died more often than Ray retries)."""


@dataclass
class StageStats:
    """One `run` call (a sweep's stage): tasks, units, the seconds its tasks took on the
    workers (in all, and the longest), and its wall time on the driver."""

    tasks: int = 0
    units: int = 0
    worker_s: float = 0.0
    longest_task_s: float = 0.0
    wall_s: float = 0.0
    floor_s: float = 0.0
    """The longest its smallest task could take: the slowest task's seconds per model
    times the models of the piece it could be cut to at most (MIN_PIECE_RUNS, or a
    whole unit that is smaller or shares one order)."""


@dataclass
class RayStats:
    """What the executor measured: starting and stopping Ray, each stage, and the time the
    sweep spent on finished populations between two results (the store's writes)."""

    startup_s: float = 0.0
    shutdown_s: float = 0.0
    driver_s: float = 0.0
    stages: list[StageStats] = field(default_factory=list)


@dataclass(frozen=True)
class RayOptions:
    """Where and how the Ray executor runs.

    address: a running cluster (`HOST:PORT`, or `auto`); empty starts a private local
    instance on 127.0.0.1 with `local_cpus` CPUs (0: every core) for the sweep.
    cpus_per_task / gpus_per_task: what one task reserves (a fraction of a GPU lets
    several populations share it). task_seconds: how long a task should take.
    """

    address: str = ""
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    local_cpus: int = 0
    task_seconds: float = 3.0
    max_retries: int = 3

    def __post_init__(self) -> None:
        if not self.cpus_per_task > 0:
            raise UserError(f"--ray-cpus-per-task must be positive, got {self.cpus_per_task}")
        if not 0 <= self.gpus_per_task <= 64:
            raise UserError(f"--ray-gpus-per-task must be in [0, 64], got {self.gpus_per_task}")
        if self.local_cpus < 0:
            raise UserError(f"local CPUs must be at least 1 (0: every core), got {self.local_cpus}")


def import_ray() -> Any:
    """The ray module, or a one-line UserError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(
            f"the Ray executor needs Ray, which is not installed; {INSTALL_HINT}"
        ) from None
    return ray


def require_ray() -> None:
    """A one-line UserError unless Ray can be imported (without importing it yet: its
    settings are read from the environment at import)."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # ValueError: hidden (sys.modules["ray"] is None)
        found = False
    if not found:
        raise UserError(f"the Ray executor needs Ray, which is not installed; {INSTALL_HINT}")


class RayExecutor:
    """Units as Ray tasks; use as a context manager (it connects and disconnects)."""

    name = "ray"

    def __init__(self, device: str = "auto", engine: str = "auto",
                 options: RayOptions | None = None) -> None:  # fmt: skip
        if device not in ("auto", "cpu", "cuda"):
            raise UserError(f"unknown device {device!r}; choose auto, cpu or cuda")
        require_ray()
        self.options = options or RayOptions()
        self.device = "cuda" if self.options.gpus_per_task > 0 else "cpu"
        self.engine = engine
        self._device_wanted = device
        self.workers = 0
        self.nodes = 0
        self.in_flight = 0
        self._ray: Any = None
        self._task: Any = None
        self._seconds_per_cost: float | None = None
        self.stats = RayStats()

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> RayExecutor:
        self.open()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def open(self) -> None:
        if self._ray is not None:
            return
        started = time.perf_counter()
        options = self.options
        if not options.address:
            # Before Ray is imported: on Linux Ray would otherwise listen on every
            # interface; with this, every server of the instance binds to 127.0.0.1.
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
            # Ray runs its workers at nice 15, so any other busy process on the machine
            # starves them; the local executor trains at normal priority, and so do these
            os.environ.setdefault("RAY_worker_niceness", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray = import_ray()
        if ray.is_initialized():
            raise UserError("Ray is already initialised in this process")
        settings: dict[str, Any] = {
            "log_to_driver": False, "include_dashboard": False, "logging_level": logging.ERROR,
        }  # fmt: skip
        if options.address:
            settings.pop("include_dashboard")
            where = options.address
            _check_reachable(where)
            try:
                ray.init(address=where, **settings)
            except (ConnectionError, RuntimeError, ValueError) as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else ""
                raise UserError(f"cannot join the Ray cluster at {where}: {first}") from None
        else:
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = False  # in case Ray was imported before
            cpus = options.local_cpus or os.cpu_count() or 1
            ray.init(address="local", num_cpus=cpus, num_gpus=_local_gpus(options), **settings)
        self._ray = ray
        resources = ray.cluster_resources()
        if options.gpus_per_task > 0:
            self.workers = int(resources.get("GPU", 0) / options.gpus_per_task)
        else:
            self.workers = int(resources.get("CPU", 0) / options.cpus_per_task)
        self.nodes = len([n for n in ray.nodes() if n.get("Alive")])
        if self.workers < 1:
            self.close()
            need = f"{options.gpus_per_task} GPU" if options.gpus_per_task > 0 else \
                f"{options.cpus_per_task} CPU"  # fmt: skip
            raise UserError(f"the Ray cluster has no room for one task of {need}")
        self._task = ray.remote(train_task).options(
            num_cpus=options.cpus_per_task,
            num_gpus=options.gpus_per_task,
            max_retries=options.max_retries,
            retry_exceptions=False,
        )
        self.stats.startup_s += time.perf_counter() - started

    def close(self) -> None:
        if self._ray is not None:
            started = time.perf_counter()
            self._ray.shutdown()
            self.stats.shutdown_s += time.perf_counter() - started
        self._ray = None

    # -- running -------------------------------------------------------------------
    def run(
        self, units: Sequence[WorkUnit], progress: UnitProgressFn | None = None
    ) -> Iterator[tuple[WorkUnit, list[RunRecord]]]:
        self.open()
        ray = self._ray
        queue = deque(split_units(units, 2 * self.workers))
        threads = max(1, int(self.options.cpus_per_task))
        running: dict[Any, tuple[WorkUnit, ...]] = {}
        failure: str | None = None
        limit = 2 * self.workers
        stage = StageStats()
        self.stats.stages.append(stage)
        began = time.perf_counter()
        try:
            while queue or running:
                while queue and failure is None and len(running) < limit:
                    task = self._take(queue)
                    ref = self._task.remote(task, self._device_wanted, self.engine, threads)
                    running[ref] = task
                    self.in_flight = len(running)
                    if progress is not None:  # reports the tasks now in flight
                        progress(task[0], 0, 1)
                self.in_flight = len(running)
                done, _ = ray.wait(list(running), num_returns=1)
                task = running.pop(done[0])
                self.in_flight = len(running)
                try:
                    results, seconds = ray.get(done[0])
                except ray.exceptions.RayError as error:
                    failure = failure or _failure_line(task, error)
                    continue
                self._learn(task, seconds)
                stage.tasks, stage.units = stage.tasks + 1, stage.units + len(task)
                stage.worker_s += seconds
                stage.longest_task_s = max(stage.longest_task_s, seconds)
                stage.floor_s = max(stage.floor_s, _floor_seconds(task, seconds))
                for unit, records in zip(task, results, strict=True):
                    handed = time.perf_counter()
                    yield unit, records
                    self.stats.driver_s += time.perf_counter() - handed
        except BaseException:
            for ref in running:
                ray.cancel(ref, force=True)
            raise
        finally:
            self.in_flight = 0
            stage.wall_s = time.perf_counter() - began
        if failure is not None:
            raise UnitFailed(failure)

    def round_trip_s(self, count: int = 200) -> float:
        """Worker-slot seconds one empty task costs: `count` of them through the same
        remote function, as many in flight as in a sweep (the per-task overhead)."""
        self.open()
        ray, limit = self._ray, 2 * self.workers
        ray.get([self._task.remote((), "cpu", self.engine, 1) for _ in range(limit)])  # warm
        started, refs = time.perf_counter(), []
        for _ in range(count):
            if len(refs) >= limit:
                _, refs = ray.wait(refs, num_returns=1)
            refs.append(self._task.remote((), "cpu", self.engine, 1))
        ray.get(refs)
        return (time.perf_counter() - started) * self.workers / count

    def _take(self, queue: deque[WorkUnit]) -> tuple[WorkUnit, ...]:
        """The next task: one piece, or (once a task's time is known) as many as make up
        about `task_seconds`."""
        task = [queue.popleft()]
        if self._seconds_per_cost is None:
            return tuple(task)
        seconds = self._seconds_per_cost * unit_cost(task[0])
        while queue and seconds + self._seconds_per_cost * unit_cost(queue[0]) <= \
                self.options.task_seconds:  # fmt: skip
            seconds += self._seconds_per_cost * unit_cost(queue[0])
            task.append(queue.popleft())
        return tuple(task)

    def _learn(self, task: tuple[WorkUnit, ...], seconds: float) -> None:
        rate = seconds / max(1.0, sum(unit_cost(u) for u in task))
        old = self._seconds_per_cost
        self._seconds_per_cost = rate if old is None else 0.7 * old + 0.3 * rate


def _check_reachable(address: str, seconds: float = 5.0) -> None:
    """A one-line UserError unless HOST:PORT accepts a connection (Ray itself would retry
    for minutes); `auto` and ray:// addresses are left to Ray."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address!r}: expected HOST:PORT, e.g. 10.0.0.5:6379")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=seconds):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UserError(f"cannot reach the Ray cluster at {address}: {reason}") from None


def _local_gpus(options: RayOptions) -> int:
    if options.gpus_per_task <= 0:
        return 0
    import torch

    return torch.cuda.device_count()


def _failure_line(task: tuple[WorkUnit, ...], error: Exception) -> str:
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    reason = f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__
    if "died" in reason.lower() or "crash" in reason.lower():
        reason = f"its worker died more often than Ray retries ({type(error).__name__})"
    labels = ", ".join(unit.label for unit in task)
    return f"unit {labels} failed on a Ray worker: {reason}"


def _floor_seconds(task: tuple[WorkUnit, ...], seconds: float) -> float:
    runs = sum(len(unit.runs) for unit in task)
    piece = max(len(u.runs) if u.shared_order or len(u.runs) < 2 * MIN_PIECE_RUNS
                else MIN_PIECE_RUNS for u in task)  # fmt: skip
    return seconds / max(runs, 1) * piece


def unit_cost(unit: WorkUnit) -> float:
    """A unit's relative cost: model-epochs times multiply-adds per point (dense)."""
    sizes = unit.layer_sizes
    per_point = sum(a * b for a, b in zip(sizes, sizes[1:])) + 64
    return len(unit.runs) * unit.training_epochs * per_point


def split_units(units: Sequence[WorkUnit], pieces: int) -> list[WorkUnit]:
    """`units` split into at least `pieces` sub-populations where they allow (the
    biggest first, halves of at least MIN_PIECE_RUNS models; never a shared-order
    unit), in their order."""
    out = list(units)
    while len(out) < pieces:
        candidates = [i for i, u in enumerate(out)
                      if not u.shared_order and len(u.runs) >= 2 * MIN_PIECE_RUNS]  # fmt: skip
        if not candidates:
            break
        i = max(candidates, key=lambda k: unit_cost(out[k]))
        unit = out[i]
        half = len(unit.runs) // 2
        out[i : i + 1] = [replace(unit, runs=unit.runs[:half]),
                          replace(unit, runs=unit.runs[half:])]  # fmt: skip
    return out


# -- on the worker -------------------------------------------------------------------
_SPLITS: dict[tuple[str, float], Any] = {}


def train_task(
    units: tuple[WorkUnit, ...], device: str, engine: str, threads: int
) -> tuple[list[list[RunRecord]], float]:
    """Train `units` one after the other on this worker; their records and the seconds
    taken. Runs in a Ray worker process (and, in tests, in this one)."""
    started = time.perf_counter()
    os.environ["SPARSEST_TORCH_THREADS"] = str(threads)
    import numba

    from harness.training.datasets import load_split
    from harness.training.engines.select import resolve_device, resolve_engine
    from harness.training.unit import train_unit

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    torch_device = resolve_device(device)
    engine_name = resolve_engine(engine, torch_device)
    results = []
    for unit in units:
        key = (unit.dataset, unit.holdout)
        if key not in _SPLITS:
            _SPLITS[key] = load_split(unit.dataset, unit.holdout)
        results.append(train_unit(unit, _SPLITS[key], torch_device, engine_name))
    return results, time.perf_counter() - started
