"""Executors: where a sweep's populations train. Only this module knows.

The local executor trains in this process on the CPU (numba engine) or a CUDA device
(torch engine). A distributed executor would implement the same two methods by shipping
populations (pure data: run specs) to workers and writing their records to the sink.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from harness.search.config import Runner
from harness.sweeps.prune_runs import PruneGrid, PruneProgress, run_grid
from harness.sweeps.result_sink import ResultSink
from harness.training.engines.select import resolve_device
from store.records import RunRecord


class Executor(Protocol):
    def runner(self, dataset: str, population: int, sweep_id: int | None = None) -> Runner:
        """How the search trains its populations (records tagged with `sweep_id`)."""

    def prune(
        self,
        grid: PruneGrid,
        sink: ResultSink,
        progress: Callable[[PruneProgress], None],
        sweep_id: int | None,
    ) -> Sequence[RunRecord]:
        """Run a pruning grid, writing each population's records to `sink`."""


class LocalExecutor:
    def __init__(self, device: str = "auto", engine: str = "auto") -> None:
        self.device = resolve_device(device).type
        self.engine = engine
        self.population = 512

    def runner(self, dataset: str, population: int, sweep_id: int | None = None) -> Runner:
        self.population = population
        return Runner(
            dataset=dataset,
            engine=self.engine,
            device=self.device,
            population=population,
            sweep_id=sweep_id,
        )

    def prune(
        self,
        grid: PruneGrid,
        sink: ResultSink,
        progress: Callable[[PruneProgress], None],
        sweep_id: int | None,
    ) -> Sequence[RunRecord]:
        return run_grid(
            grid, sink, self.device, self.engine, self.population, progress,
            strict=False, sweep_id=sweep_id,
        )  # fmt: skip
