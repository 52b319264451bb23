"""Executors: where work units train. They run units and hand back finished
populations' records; they never open the store (the sweep driver writes).

The local executor trains in this process, unit after unit, on the CPU (numba engine)
or a CUDA device (torch engine). A distributed executor implements the same `run`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from harness.training.datasets import Split, load_split
from harness.training.engines.select import resolve_device, resolve_engine
from harness.training.unit import WorkUnit, train_unit
from store.records import RunRecord

UnitProgressFn = Callable[[WorkUnit, int, int], None]
"""(unit in flight, its steps done, its steps in all)."""


class Executor(Protocol):
    name: str
    device: str
    engine: str

    def run(
        self, units: Sequence[WorkUnit], progress: UnitProgressFn | None = None
    ) -> Iterator[tuple[WorkUnit, list[RunRecord]]]:
        """Train every unit; yield each with its records (in the unit's run order) as it
        finishes, in any order."""
        ...


class LocalExecutor:
    """Units one after the other in this process."""

    name = "local"

    def __init__(self, device: str = "auto", engine: str = "auto") -> None:
        torch_device = resolve_device(device)
        self.device = torch_device.type
        self.engine = resolve_engine(engine, torch_device)
        self._splits: dict[tuple[str, float], Split] = {}

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
            yield unit, train_unit(unit, split, self.device, self.engine, report)
