"""Executors: where work units train. They run units and hand back finished
populations' records; they never open the store (the sweep driver writes).

The local executor trains in this process, unit after unit, on the CPU (numba engine)
or a CUDA device (torch engine); the Ray executor (harness.sweeps.ray_executor) trains
them as tasks on a Ray instance or cluster. Both are context managers: a sweep opens
its executor before the first unit and closes it after the last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from harness.training.datasets import Split, load_split
from harness.training.engines.select import resolve_device, resolve_engine
from harness.training.unit import WorkUnit, train_unit
from store.records import RunRecord

if TYPE_CHECKING:
    from harness.sweeps.spec_file import SweepSpec

UnitProgressFn = Callable[[WorkUnit, int, int], None]
"""(unit in flight, its steps done, its steps in all)."""


EXECUTORS = ("local", "ray")


class Executor(Protocol):
    name: str
    device: str
    engine: str
    workers: int
    """Units trained at once (local: 1; Ray: tasks the cluster has room for)."""
    nodes: int
    in_flight: int
    """Units (local) or tasks (Ray) being trained now."""

    def __enter__(self) -> Executor: ...

    def __exit__(self, *_: object) -> None: ...

    def run(
        self, units: Sequence[WorkUnit], progress: UnitProgressFn | None = None
    ) -> Iterator[tuple[WorkUnit, list[RunRecord]]]:
        """Train every unit; yield each with its records (in the unit's run order) as it
        finishes, in any order."""
        ...


class LocalExecutor:
    """Units one after the other in this process."""

    name = "local"
    workers = 1
    nodes = 1

    def __init__(self, device: str = "auto", engine: str = "auto") -> None:
        torch_device = resolve_device(device)
        self.device = torch_device.type
        self.engine = resolve_engine(engine, torch_device)
        self.in_flight = 0
        self._splits: dict[tuple[str, float], Split] = {}

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def split(self, dataset: str, holdout: float) -> Split:
        key = (dataset, holdout)
        if key not in self._splits:
            self._splits[key] = load_split(dataset, holdout)
        return self._splits[key]

    def run(
        self, units: Sequence[WorkUnit], progress: UnitProgressFn | None = None
    ) -> Iterator[tuple[WorkUnit, list[RunRecord]]]:
        for unit in units:

            def report(done: int, total: int, unit: WorkUnit = unit) -> None:
                if progress is not None:
                    progress(unit, done, total)

            split = self.split(unit.dataset, unit.holdout)
            self.in_flight = 1
            records = train_unit(unit, split, self.device, self.engine, report)
            self.in_flight = 0
            yield unit, records


def make_executor(spec: SweepSpec) -> Executor:
    """The executor `spec` asks for (not yet opened: enter it to start)."""
    if spec.executor == "ray":
        from harness.sweeps.ray_executor import RayExecutor, RayOptions

        options = RayOptions(spec.address, spec.ray_cpus_per_task, spec.ray_gpus_per_task)
        return RayExecutor(spec.device, spec.engine, options)
    return LocalExecutor(spec.device, spec.engine)
