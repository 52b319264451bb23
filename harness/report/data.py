"""Everything the report needs from the store, read once through store.queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UserError
from store import queries
from store.db import ResultsStore, StoreError

HEADLINE_TARGETS = (0.95, 0.995)
"""The overparameterisation section's targets (the paper's), where the store has them."""


@dataclass(frozen=True)
class ReportData:
    """The store's results as the sections read them.

    by_width: (dataset, width) -> the random-init leaderboard of pruning runs from that
    width, for every dataset with random-init pruning from two widths or more.
    luck: each leaderboard winner's and frontier run's recipe over seeds.
    """

    path: Path
    targets: list[float]
    groups: list[queries.RunGroup]
    frontier: list[queries.FrontierRow]
    structures: list[queries.StructureRow]
    pareto: list[queries.ParetoRow]
    leaderboard: list[queries.LeaderboardRow]
    by_width: dict[tuple[str, int], list[queries.LeaderboardRow]]
    luck: list[queries.RecipeSuccess]
    sweeps: list[queries.SweepTiming]
    runs: dict[str, queries.StoredRun] = field(default_factory=dict)

    @property
    def total_runs(self) -> int:
        return sum(g.runs for g in self.groups)


def pruning_widths(groups: list[queries.RunGroup], dataset: str) -> list[int]:
    """The uniform widths random-init pruning on `dataset` started from, ascending."""
    return sorted(
        {
            g.widths[0]
            for g in groups
            if g.kind == "prune"
            and g.dataset == dataset
            and g.init == "random"
            and g.widths
            and min(g.widths) == max(g.widths)
        }
    )


def gather(store: ResultsStore, drawn: int = 6) -> ReportData:
    """Read the store (read-only, one query at a time); a store that is missing, empty,
    damaged or holds no runs is a one-line UserError (a read never creates a store).
    drawn: how many of the frontier's networks to fetch for drawing."""
    try:
        groups = queries.run_groups(store)
        if not groups:
            raise UserError(f"nothing to report: {store.path} holds no runs")
        targets = store.targets()
        frontier = queries.frontier(store)
        leaderboard = queries.leaderboard(store)
        by_width: dict[tuple[str, int], list[queries.LeaderboardRow]] = {}
        for dataset in sorted({g.dataset for g in groups}):
            widths = pruning_widths(groups, dataset)
            if len(widths) >= 2:
                for width in widths:
                    by_width[dataset, width] = queries.leaderboard(
                        store, width=width, init_mode="random", dataset=dataset
                    )
        pairs = sorted(
            {(r.run_key, r.target) for r in leaderboard if r.run_key}
            | {(r.run_key, r.target) for r in frontier if r.run_key}
        )
        runs: dict[str, queries.StoredRun] = {}
        for row in frontier:
            if row.run_key and row.run_key not in runs and len(runs) < drawn:
                stored = queries.run(store, row.run_key)
                if stored is not None:
                    runs[row.run_key] = stored
        return ReportData(
            path=store.path,
            targets=targets,
            groups=groups,
            frontier=frontier,
            structures=queries.minimal_structure(store),
            pareto=queries.pareto(store),
            leaderboard=leaderboard,
            by_width=by_width,
            luck=queries.recipe_success(store, pairs),
            sweeps=queries.sweep_timings(store),
            runs=runs,
        )
    except StoreError as error:
        raise UserError(str(error)) from None
