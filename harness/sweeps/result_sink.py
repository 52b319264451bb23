"""Where finished runs go: the results store, or memory when there is none.

`store.db.ResultsStore` implements `ReadableSink`; `MemorySink` is the same contract in
a dict, with the store's semantics: writing a run key twice keeps the first record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from store.records import RunRecord


@runtime_checkable
class ResultSink(Protocol):
    def write_runs(self, records: Sequence[RunRecord]) -> object: ...

    def done_keys(self, keys: Sequence[str]) -> set[str]: ...


@runtime_checkable
class ReadableSink(ResultSink, Protocol):
    """A sink that can also hand back finished runs, so a resumed search can report
    on runs it skipped."""

    def read_runs(self, keys: Sequence[str]) -> list[RunRecord]: ...


class MemorySink:
    """Runs by run key (tests; `sparsest prune` and `search` without a store)."""

    def __init__(self) -> None:
        self.runs: dict[str, RunRecord] = {}

    @property
    def records(self) -> list[RunRecord]:
        return list(self.runs.values())

    def write_runs(self, records: Sequence[RunRecord]) -> None:
        for record in records:
            self.runs.setdefault(record.run_key, record)

    def done_keys(self, keys: Sequence[str]) -> set[str]:
        return {k for k in keys if k in self.runs}

    def read_runs(self, keys: Sequence[str]) -> list[RunRecord]:
        return [self.runs[k] for k in keys if k in self.runs]
