"""What the screens read from the store, as plain values (no Textual).

Each function makes its own short read-only visits to the store (store.queries), so it
runs in a thread worker while a sweep writes from another process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from store import queries
from store.db import ResultsStore, SweepRow


@dataclass(frozen=True)
class BoardFilters:
    """None: no filter. width: only runs whose hidden layers are all that wide."""

    target: float | None = None
    width: int | None = None
    init_mode: str | None = None
    dataset: str | None = None


@dataclass(frozen=True)
class BoardData:
    """The leaderboard rows, and per curve ('search' or an algorithm) the best accuracy
    at each weight nnz for the plot; the filter choices the store offers."""

    rows: list[queries.LeaderboardRow]
    curves: dict[str, list[tuple[int, float]]]
    targets: list[float]
    widths: list[int]
    datasets: list[str]
    init_modes: list[str] = field(default_factory=lambda: ["random", "fixed"])


def board(store: ResultsStore, filters: BoardFilters) -> BoardData:
    rows = queries.leaderboard(
        store, filters.target, filters.width, filters.init_mode, filters.dataset
    )
    curves: dict[str, list[tuple[int, float]]] = {}
    for point in queries.pareto(
        store, width=filters.width, init_mode=filters.init_mode, dataset=filters.dataset
    ):
        if point.best_accuracy is None:
            continue
        if point.algorithm == "search" and not point.on_front:
            continue
        curves.setdefault(point.algorithm, []).append((point.weight_nnz, point.best_accuracy))
    choices = queries.filter_choices(store)
    return BoardData(
        rows, curves, list(choices.targets), list(choices.widths), list(choices.datasets)
    )


def most_accurate_run(
    store: ResultsStore, algorithm: str, dataset: str, filters: BoardFilters
) -> str | None:
    """The run key of `algorithm`'s most accurate run (fewest weights among equals),
    within the leaderboard's width and init filters; None if it has none."""
    return queries.most_accurate_run(
        store, algorithm, dataset, width=filters.width, init_mode=filters.init_mode
    )


@dataclass(frozen=True)
class SweepsData:
    sweeps: list[SweepRow]


def sweeps(store: ResultsStore) -> SweepsData:
    return SweepsData(store.list_sweeps() if store.path.exists() else [])


def stored_run(store: ResultsStore, run_key: str) -> queries.StoredRun | None:
    return queries.run(store, run_key.strip())


def sql(store: ResultsStore, query: str, limit: int) -> tuple[list[str], list[tuple[object, ...]]]:
    return queries.sql(store, query, limit=limit)
