"""The report's seven sections, built from ReportData: each is a title and blocks (text,
tables, figures), or one line saying which preset adds it when the store lacks its runs."""

from __future__ import annotations

import itertools
import platform
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.report import figures
from harness.report.data import HEADLINE_TARGETS, ReportData
from harness.report.stats import wilson
from harness.report.style import algorithm_order
from harness.search.config import REFERENCE_WIDTH
from store.queries import LeaderboardRow, RunGroup

SEARCH_KINDS = ("search-phase1", "search-phase2")
KIND_LABELS = {"search-phase1": "phase 1", "search-phase2": "phase 2", "prune": "pruning"}


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    """A table: `name` names its CSV file; rows hold raw values (the CSV keeps them)."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    caption: str


@dataclass(frozen=True)
class Figure:
    """A PNG figure: `name` names its file; the caption says which runs it draws."""

    name: str
    png: bytes
    caption: str
    alt: str


Block = Text | Table | Figure


@dataclass
class Section:
    """One numbered section; `missing` (one line) replaces its blocks when the store
    lacks the runs it needs."""

    number: int
    title: str
    blocks: list[Block] = field(default_factory=list)
    missing: str | None = None

    @property
    def anchor(self) -> str:
        return f"s{self.number}"


def shown_path(path: Path) -> str:
    """`path` relative to the working directory when it lies under it (a report committed
    with its repository then names no one's machine), else absolute."""
    resolved, here = path.resolve(), Path.cwd().resolve()
    return str(resolved.relative_to(here) if resolved.is_relative_to(here) else resolved)


def pct(target: float) -> str:
    return f"{target * 100:g}%"


def widths_label(widths: Sequence[int]) -> str:
    return "-".join(str(w) for w in widths)


def _seeds(seeds: set[int]) -> str:
    ordered = sorted(seeds)
    if len(ordered) <= 6:
        return f"seed{'s' if len(ordered) > 1 else ''} {', '.join(map(str, ordered))}"
    return f"{len(ordered):,} seeds ({ordered[0]}-{ordered[-1]})"


def provenance(groups: Iterable[RunGroup]) -> str:
    """'Drawn from N runs (...), sweeps ..., seeds ...': which runs a figure shows."""
    chosen = list(groups)
    if not chosen:
        return "Drawn from no runs."
    counts: dict[str, int] = defaultdict(int)
    for g in chosen:
        counts[g.kind] += g.runs
    order = [*KIND_LABELS, *sorted(k for k in counts if k not in KIND_LABELS)]
    parts = [f"{counts[k]:,} {KIND_LABELS.get(k, k)}" for k in order if k in counts]
    pruned = [g for g in chosen if g.kind == "prune"]
    if pruned:  # "pruning" is last
        algorithms = algorithm_order({g.algorithm for g in pruned})
        widths = [widths_label(w) for w in sorted({tuple(g.widths) for g in pruned})]
        parts[-1] += (
            f" by {len(algorithms)} algorithm{'s' if len(algorithms) > 1 else ''}"
            f" from width{'s' if len(widths) > 1 else ''} {', '.join(widths[:12])}"
            + (" ..." if len(widths) > 12 else "")
        )
    sweeps = sorted({s for g in chosen for s in g.sweeps})
    total = sum(g.runs for g in chosen)
    return (
        f"Drawn from {total:,} run{'s' if total != 1 else ''} ({'; '.join(parts)}) of "
        f"sweep{'s' if len(sweeps) > 1 else ''} {', '.join(sweeps)} (preset or spec name), "
        f"{_seeds({s for g in chosen for s in g.seeds})}; datasets "
        f"{', '.join(sorted({g.dataset for g in chosen}))}."
    )


def _select(
    data: ReportData, *, dataset: str | None = None, init: Callable[[str], bool] | None = None,
    kinds: Sequence[str] | None = None,
) -> list[RunGroup]:  # fmt: skip
    return [
        g
        for g in data.groups
        if (dataset is None or g.dataset == dataset)
        and (init is None or init(g.init))
        and (kinds is None or g.kind in kinds)
    ]


def _is_fixed(init: str) -> bool:
    return init.startswith("fixed")


def _search_study(data: ReportData, dataset: str, study: str) -> str:
    """The search study a pruning study is compared with (store/schema_v2.sql: random
    pruning falls back to the random-own-width search)."""
    have = {r.init for r in data.frontier if r.dataset == dataset}
    if study == "random" and "random" not in have and "random-own-width" in have:
        return "random-own-width"
    return study


def _search_points(data: ReportData, dataset: str, study: str) -> list[tuple[float, float]]:
    return [
        (r.weight_nnz, r.best_accuracy)
        for r in data.pareto
        if r.algorithm == "search" and r.dataset == dataset and r.init == study
        and r.best_accuracy is not None
    ]  # fmt: skip


# -- 1 -------------------------------------------------------------------------------


def frontier_section(data: ReportData) -> Section:
    section = Section(1, "The optimal frontier")
    search = _select(data, kinds=SEARCH_KINDS)
    if not search:
        section.missing = (
            "No search runs in this store: `sparsest run paper-95` (and `paper-995`; "
            "`quick` in miniature) adds the frontier."
        )
        return section
    section.blocks.append(Text(
        "Phase 1 trains every dense 2-d1-d2-d3-1 structure; the smallest one reaching a "
        "target is its minimal structure, and phase 2 trains every mask of it. The "
        "frontier is the fewest weights of any search network reaching the target."
    ))  # fmt: skip
    phase1 = _select(data, kinds=("search-phase1",))
    section.blocks += [Text(line) for line in phase1_coverage(phase1)]
    if data.structures:
        section.blocks.append(Table(
            "minimal-structures",
            ("dataset", "init", "target", "widths", "model_nnz", "weight_nnz", "accuracy",
             "run_key"),
            [(r.dataset, r.init, r.target, widths_label(r.widths), r.model_nnz, r.weight_nnz,
              r.accuracy, r.run_key) for r in data.structures],
            "Phase 1's minimal structure per target and init study (fewest parameters "
            "reaching it). " + provenance(phase1),
        ))  # fmt: skip
    else:
        section.blocks.append(Text("No phase 1 structure reaches any target in this store."))
    section.blocks.append(Table(
        "frontier",
        ("dataset", "init", "target", "weight_nnz", "model_nnz", "effective_nnz", "accuracy",
         "widths", "kind", "reached", "run_key"),
        [(r.dataset, r.init, r.target, r.weight_nnz, r.model_nnz, r.effective_nnz, r.accuracy,
          None if r.widths is None else widths_label(r.widths), r.kind, r.reached, r.run_key)
         for r in data.frontier],
        "The frontier: per target, the fewest weights of a search network reaching it "
        "(empty where none does); reached: search runs reaching it. " + provenance(search),
    ))  # fmt: skip
    for dataset in sorted({g.dataset for g in search}):
        studies = sorted({g.init for g in search if g.dataset == dataset})
        curves = {s: _search_points(data, dataset, s) for s in studies}
        curves = {s: p for s, p in curves.items() if p}
        if curves:
            drawn = _select(data, dataset=dataset, kinds=SEARCH_KINDS)
            which = (
                "phases 1 and 2 together"
                if any(g.kind == "search-phase2" for g in drawn)
                else "phase 1's dense structures alone: this store has no phase 2 runs"
            )
            section.blocks.append(Figure(
                f"frontier-{dataset}",
                figures.frontiers(curves, data.targets, f"Pareto curve of the search ({dataset})"),
                "The search's Pareto curve: the best accuracy of any search network with at "
                f"most N weights ({which}), one black line per init study; "
                "dashed grey: the accuracy targets. " + provenance(drawn),
                f"Pareto curve of the search on {dataset}",
            ))  # fmt: skip
    section.blocks += _networks(data)
    return section


def phase1_coverage(phase1: Sequence[RunGroup]) -> list[str]:
    """Per dataset and init study, how much of phase 1 the store holds: the structures
    with d1, d2, d3 in 1..W (W: the widest trained) and the runs of each, so a partial
    search says its minimal structures are only the smallest of those trained."""
    lines = []
    studies: dict[tuple[str, str], list[RunGroup]] = defaultdict(list)
    for group in phase1:
        studies[group.dataset, group.init].append(group)
    for (dataset, init), groups in sorted(studies.items()):
        width = max(max(g.widths) for g in groups)
        runs = [g.runs for g in groups]
        expected, trained, most = width**3, len(groups), max(runs)
        short = sum(r < most for r in runs)
        where = f"phase 1 on {dataset} (init {init})"
        if trained == expected and not short:
            lines.append(
                f"The store holds all of {where}: the {expected:,} structures with d1, d2, "
                f"d3 in 1..{width}, {most:,} runs each"
                + (f" (the paper's search goes up to {REFERENCE_WIDTH} wide)."
                   if width < REFERENCE_WIDTH else ".")
            )  # fmt: skip
            continue
        uneven = f", {short:,} of them with fewer runs than the {most:,} of the others"
        lines.append(
            f"The store holds part of {where}: {trained:,} of the {expected:,} structures "
            f"with d1, d2, d3 in 1..{width}"
            + (uneven if short else "")
            + "; its minimal structures and frontier are the smallest among those trained, "
            "and a smaller structure may still be found (rerun the sweep to finish it)."
        )
    return lines


def _networks(data: ReportData) -> list[Block]:
    """The sparsest networks of the frontier, drawn (network diagram and boundary)."""
    from harness.model_view import dataset_points, model_view, pixels

    blocks: list[Block] = []
    targets: dict[str, list[str]] = defaultdict(list)
    for row in data.frontier:
        if row.run_key in data.runs:
            targets[row.run_key].append(f"{pct(row.target)} ({row.dataset}, init {row.init})")
    for key, reaches in targets.items():
        stored = data.runs[key]
        view = model_view(stored)
        record = view.record
        boundary = None
        if view.weights is not None:
            x, y = dataset_points(record.dataset)
            boundary = pixels(view, x, y, 240, 240)
        title = (
            f"{record.weight_nnz} weights, {widths_label(record.widths)}, "
            f"accuracy {record.accuracy:.2%}"
        )
        blocks.append(Figure(
            f"network-{key[:12]}",
            figures.network(view, boundary, title),
            f"The sparsest search network reaching {', '.join(reaches)}: run {key} "
            f"({record.kind}, lr {record.lr:g}, {record.schedule}, {record.epochs} epochs, "
            f"seed {record.seed}); green: weights on an input-output path, red dashed: "
            "kept but disconnected, hollow: dead neurons; the boundary as `sparsest show "
            f"{key[:12]} --png` draws it. Drawn from 1 run.",
            f"network diagram and decision boundary of run {key[:12]}",
        ))  # fmt: skip
    return blocks


# -- 2 -------------------------------------------------------------------------------


def _pruning_studies(data: ReportData, fixed: bool) -> list[tuple[str, str]]:
    return sorted({(r.dataset, r.init) for r in data.leaderboard if _is_fixed(r.init) == fixed})


def _leaderboard_rows(rows: Iterable[LeaderboardRow]) -> list[tuple[Any, ...]]:
    return [
        (r.dataset, r.init, r.target, r.algorithm, r.weight_nnz, r.frontier_weight_nnz,
         r.gap_ratio, r.best_accuracy, r.effective_nnz, r.reached, r.runs, r.run_key)
        for r in rows
    ]  # fmt: skip


LEADERBOARD_COLUMNS = (
    "dataset", "init", "target", "algorithm", "weight_nnz", "frontier_weight_nnz", "gap_ratio",
    "best_accuracy", "effective_nnz", "reached", "runs", "run_key",
)  # fmt: skip


def pruning_section(data: ReportData) -> Section:
    section = Section(2, "Pruning against the frontier")
    studies = _pruning_studies(data, fixed=False)
    has_frontier = any(r.weight_nnz is not None for r in data.frontier)
    if not studies or not has_frontier:
        what = "no random-init pruning runs" if not studies else "no frontier to compare with"
        section.missing = (
            f"This store has {what}: `sparsest run paper-95` (search and pruning; `quick` "
            "in miniature) adds it."
        )
        return section
    section.blocks.append(Text(
        "Every algorithm's best accuracy with at most N weights beside the frontier, and "
        "the gap ratio: the fewest weights of an algorithm's run reaching a target over "
        "the frontier's. Below 1, the algorithm found a sparser network than the search "
        "trained (the search was not exhaustive for that target)."
    ))  # fmt: skip
    for dataset, study in studies:
        search_study = _search_study(data, dataset, study)
        pruned = _select(data, dataset=dataset, init=lambda i, s=study: i == s, kinds=("prune",))
        searched = _select(
            data, dataset=dataset, init=lambda i, s=search_study: i == s, kinds=SEARCH_KINDS
        )
        curves: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in data.pareto:
            mine = r.dataset == dataset and r.init == study and r.algorithm != "search"
            if mine and r.best_accuracy is not None:
                curves[r.algorithm].append((r.weight_nnz, r.best_accuracy))
        label = f"{dataset}, init {study}"
        section.blocks.append(Figure(
            f"pruning-{dataset}-{study}",
            figures.pruning_against_frontier(
                _search_points(data, dataset, search_study), curves, data.targets,
                f"pruning against the frontier ({label})",
            ),
            "Best accuracy with at most N weights per algorithm (colour and line style "
            "fixed per algorithm across the report) and the frontier (black, init "
            f"{search_study}). " + provenance(pruned + searched),
            f"accuracy against weight nnz per algorithm, {label}",
        ))  # fmt: skip
        rows = [r for r in data.leaderboard if (r.dataset, r.init) == (dataset, study)]
        section.blocks.append(Table(
            f"gap-{dataset}-{study}", LEADERBOARD_COLUMNS, _leaderboard_rows(rows),
            f"Gap ratio per target ({label}): weight_nnz, the fewest weights of a run "
            "reaching the target (empty: none did); frontier_weight_nnz, the search's; "
            "best_accuracy, that run's (where none reached, the best any run got); "
            "reached/runs. " + provenance(pruned + searched),
        ))  # fmt: skip
        gaps: dict[float, dict[str, float | None]] = defaultdict(dict)
        for r in rows:
            gaps[r.target][r.algorithm] = r.gap_ratio
        section.blocks.append(Figure(
            f"gap-{dataset}-{study}",
            figures.gap_ratios(gaps, f"gap ratio per algorithm and target ({label})"),
            "Gap ratio per algorithm and target (black line: 1, the frontier); no marker: "
            "the algorithm never reached that target. " + provenance(pruned + searched),
            f"gap ratio per algorithm, {label}",
        ))  # fmt: skip
    return section


# -- 3 -------------------------------------------------------------------------------


def overparam_section(data: ReportData) -> Section:
    section = Section(3, "Overparameterisation")
    if not data.by_width:
        section.missing = (
            "Needs random-init pruning from two starting widths or more with a frontier: "
            "`sparsest run paper-overparam` adds it (widths 3 ... 256; `quick`: 3, 8, 16)."
        )
        return section
    reached = {r.target for rows in data.by_width.values() for r in rows if r.gap_ratio}
    wanted = [t for t in data.targets if t in HEADLINE_TARGETS or t in reached]
    section.blocks.append(Text(
        f"The gap at {', '.join(pct(t) for t in wanted)} against the width pruning "
        "starts from (every hidden layer that wide), one line per algorithm. A point is "
        "missing where no run from that width reached the target, or the search has no "
        "frontier there."
    ))  # fmt: skip
    for dataset in sorted({d for d, _ in data.by_width}):
        widths = sorted(w for d, w in data.by_width if d == dataset)
        runs = _select(data, dataset=dataset, init=lambda i: i == "random", kinds=("prune",))
        uniform = [g for g in runs if len(set(g.widths)) == 1 and g.widths[0] in widths]
        section.blocks.extend(Text(line) for line in overparam_coverage(uniform))
        panels: dict[float, dict[str, list[tuple[float, float]]]] = {t: {} for t in wanted}
        table: list[tuple[Any, ...]] = []
        for width in widths:
            for r in data.by_width[dataset, width]:
                if r.target not in panels:
                    continue
                points = panels[r.target].setdefault(r.algorithm, [])
                if r.gap_ratio is not None:
                    points.append((width, r.gap_ratio))
                table.append((dataset, width, r.target, r.algorithm, r.weight_nnz,
                              r.frontier_weight_nnz, r.gap_ratio, r.reached, r.runs))  # fmt: skip
        search = _select(
            data, dataset=dataset, init=lambda i: i.startswith("random"), kinds=SEARCH_KINDS
        )
        section.blocks.append(Figure(
            f"overparam-{dataset}",
            figures.gap_against_width(widths, panels, f"gap against starting width ({dataset})"),
            "Gap ratio against the starting width, one line per algorithm (black: 1, the "
            "frontier). " + provenance(runs + search),
            f"gap ratio against starting width on {dataset}",
        ))  # fmt: skip
        section.blocks.append(Table(
            f"overparam-{dataset}",
            ("dataset", "width", "target", "algorithm", "weight_nnz", "frontier_weight_nnz",
             "gap_ratio", "reached", "runs"),
            table,
            f"The gap per starting width ({dataset}). " + provenance(runs + search),
        ))  # fmt: skip
    return section


def overparam_coverage(pruned: Sequence[RunGroup]) -> list[str]:
    """What the overparameterisation study lacks, per dataset: the starting widths some
    algorithms have not pruned from, and algorithms with fewer runs from a width than
    the others (a sweep stopped part-way); nothing when every algorithm ran in full."""
    lines = []
    by_dataset: dict[str, list[RunGroup]] = defaultdict(list)
    for group in pruned:
        by_dataset[group.dataset].append(group)
    for dataset, groups in sorted(by_dataset.items()):
        everyone = {g.algorithm for g in groups}
        runs: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for g in groups:
            runs[g.widths[0]][g.algorithm] += g.runs
        gaps = []
        for width, per in sorted(runs.items()):
            absent = algorithm_order(everyone - set(per))
            most = max(per.values())
            short = [f"{a} {per[a]:,} of {most:,}" for a in algorithm_order(set(per))
                     if per[a] < most]  # fmt: skip
            if absent:
                gaps.append(f"from width {width}, {', '.join(absent)} did not run")
            if short:
                gaps.append(f"from width {width}, {'; '.join(short)} runs")
        if gaps:
            lines.append(
                f"Not every algorithm ran in full on {dataset}: " + "; ".join(gaps)
                + ". Their lines stop or rest on fewer runs there (rerun the sweep to "
                "finish it)."
            )  # fmt: skip
    return lines


# -- 4 -------------------------------------------------------------------------------


def disconnection_section(data: ReportData) -> Section:
    section = Section(4, "Disconnected weights")
    pruned = _select(data, kinds=("prune",))
    if not pruned:
        section.missing = (
            "No pruning runs in this store: `sparsest run quick` (or any preset that prunes, "
            "e.g. `paper-overparam`) adds it."
        )
        return section
    section.blocks.append(Text(
        "A kept weight is disconnected when it lies on no input-to-output path of kept "
        "weights (it cannot change the output); a dead hidden neuron has no such path "
        "through it. Shares are of all kept weights over an algorithm's runs from a width."
    ))  # fmt: skip
    rows: list[tuple[Any, ...]] = []
    for (dataset, study), chosen in itertools.groupby(
        sorted(pruned, key=lambda g: (g.dataset, g.init)), key=lambda g: (g.dataset, g.init)
    ):
        groups = list(chosen)
        labels = sorted({widths_label(g.widths) for g in groups},
                        key=lambda w: (sum(map(int, w.split("-"))), w))  # fmt: skip
        shares: dict[str, list[float | None]] = {}
        dead: dict[str, list[float | None]] = {}
        for name in algorithm_order({g.algorithm for g in groups}):
            shares[name], dead[name] = [None] * len(labels), [None] * len(labels)
            for g in groups:
                if g.algorithm != name:
                    continue
                k = labels.index(widths_label(g.widths))
                share = (g.weight_nnz - g.effective_nnz) / g.weight_nnz if g.weight_nnz else 0.0
                shares[name][k], dead[name][k] = share, g.dead_neurons / g.runs
                rows.append((dataset, study, name, widths_label(g.widths), g.runs,
                             g.weight_nnz / g.runs, share, g.with_disconnected,
                             g.dead_neurons / g.runs))  # fmt: skip
        label = f"{dataset}, init {study}"
        section.blocks.append(Figure(
            f"disconnected-{dataset}-{study}",
            figures.disconnection(labels, shares, dead, f"disconnected weights ({label})"),
            "Top: share of kept weights on no input-output path; bottom: dead hidden "
            "neurons per network (mean), per algorithm and starting widths. "
            + provenance(groups),
            f"disconnected weights and dead neurons per algorithm and width, {label}",
        ))  # fmt: skip
    section.blocks.append(Table(
        "disconnected",
        ("dataset", "init", "algorithm", "widths", "runs", "mean_weight_nnz",
         "disconnected_share", "runs_with_disconnected", "mean_dead_neurons"),
        rows,
        "Per algorithm and starting widths: kept weights per network (mean), the share of "
        "them disconnected, how many runs keep any disconnected weight, dead hidden "
        "neurons per network (mean). " + provenance(pruned),
    ))  # fmt: skip
    return section


# -- 5 -------------------------------------------------------------------------------


def fixed_section(data: ReportData) -> Section:
    section = Section(5, "Given the optimal width and init")
    fixed = _pruning_studies(data, fixed=True)
    if not fixed:
        section.missing = (
            "No fixed-init pruning runs in this store: `sparsest run paper-fixed-init` "
            "adds it (pruning from phase 1's minimal structure, cut from the paper's "
            "network)."
        )
        return section
    section.blocks.append(Text(
        "Pruning that starts from the minimal structure with the fixed network's own "
        "initialisation (each fixed study against its own frontier), beside the "
        "random-init study (from any width)."
    ))  # fmt: skip
    for dataset in sorted({d for d, _ in fixed}):
        studies = [s for d, s in _pruning_studies(data, fixed=False) if d == dataset]
        studies += [s for d, s in fixed if d == dataset]
        rows = [r for r in data.leaderboard if r.dataset == dataset and r.init in studies]
        groups = _select(data, dataset=dataset, init=lambda i, s=studies: i in s)
        for target in sorted({r.target for r in rows if r.gap_ratio is not None}):
            gaps: dict[str, dict[str, float | None]] = defaultdict(dict)
            for r in rows:
                if r.target == target:
                    gaps[r.algorithm][r.init] = r.gap_ratio
            section.blocks.append(Figure(
                f"fixed-{dataset}-{pct(target)}",
                figures.fixed_against_random(
                    gaps, studies, f"fixed against random init at {pct(target)} ({dataset})"
                ),
                f"Gap ratio at {pct(target)} per algorithm and init study (hatched: fixed "
                "init; no bar: never reached). " + provenance(groups),
                f"gap ratio fixed against random init at {pct(target)}",
            ))  # fmt: skip
        section.blocks.append(Table(
            f"fixed-{dataset}", LEADERBOARD_COLUMNS, _leaderboard_rows(rows),
            f"The leaderboard of each init study ({dataset}). " + provenance(groups),
        ))  # fmt: skip
    return section


# -- 6 -------------------------------------------------------------------------------


def luck_section(data: ReportData) -> Section:
    section = Section(6, "Luck")
    success = {(s.run_key, s.target): s for s in data.luck}
    if not any(s.runs > 1 for s in data.luck):
        section.missing = (
            "Every recipe in this store ran with one seed, so there is no rate to give: "
            "`seeds = 5` in a spec (no preset runs more than one) adds it."
        )
        return section
    section.blocks.append(Text(
        "How often the recipe behind each frontier point and each algorithm's best run "
        "succeeds: its runs that differ only in the seed (same widths, lr, schedule, "
        "epochs, nnz target, hyper-parameters; for the search the same mask), and the "
        "share of them reaching the target, with a 95% Wilson interval. The leaderboard "
        "reports the best of N; this is the chance of one try."
    ))  # fmt: skip
    entries: list[tuple[Any, ...]] = []
    for r in data.frontier:
        s = success.get((r.run_key or "", r.target))
        if s is not None:
            entries.append((r.dataset, r.init, r.target, "search", r.weight_nnz, s))
    for r in data.leaderboard:
        s = success.get((r.run_key or "", r.target))
        if s is not None:
            entries.append((r.dataset, r.init, r.target, r.algorithm, r.weight_nnz, s))
    rows: list[tuple[Any, ...]] = []
    for (dataset, study), chosen in itertools.groupby(
        sorted(entries, key=lambda e: (e[0], e[1], e[2], e[3] != "search")),
        key=lambda e: (e[0], e[1]),
    ):
        points = []
        for _, _, target, curve, nnz, s in chosen:
            low, high = wilson(s.reached, s.runs)
            rate = s.reached / s.runs
            rows.append((dataset, study, target, curve, nnz, s.runs, s.reached, rate, low,
                         high, s.run_key))  # fmt: skip
            points.append((f"{pct(target)} {curve} ({nnz})", curve, rate, low, high))
        groups = _select(data, dataset=dataset, init=lambda i, s=study: i == s)
        label = f"{dataset}, init {study}"
        section.blocks.append(Figure(
            f"luck-{dataset}-{study}",
            figures.success_rates(points, f"success over seeds ({label})"),
            "Per target, the frontier's recipe (black) and each algorithm's best recipe: "
            "share of its seeds reaching the target, 95% Wilson interval; the label gives "
            "the target, the curve and its weight nnz. " + provenance(groups),
            f"success rate over seeds, {label}",
        ))  # fmt: skip
    section.blocks.append(Table(
        "luck",
        ("dataset", "init", "target", "curve", "weight_nnz", "seeds", "reached", "rate",
         "wilson_low", "wilson_high", "run_key"),
        rows,
        "Success over seeds of each best recipe (run_key: the best run). "
        + provenance(data.groups),
    ))  # fmt: skip
    return section


# -- 7 -------------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance_section(data: ReportData, command: str) -> Section:
    from harness.sweeps.projection import cpu_name

    section = Section(7, "Speed and provenance")
    rows: list[tuple[Any, ...]] = []
    for s in data.sweeps:
        span = None if s.last_finished is None else (s.last_finished - s.created).total_seconds()
        rate = s.model_epochs / span if span else None
        rows.append((s.id, s.name, s.status, s.created.isoformat(sep=" ", timespec="seconds"),
                     s.runs, s.model_epochs, span, s.run_seconds, rate,
                     ", ".join(s.devices)))  # fmt: skip
    epochs = sum(g.model_epochs for g in data.groups)
    seconds = sum(g.wall_seconds for g in data.groups)
    section.blocks.append(Text(
        f"{data.total_runs:,} runs, {epochs:,} model-epochs (runs x epochs), "
        f"{seconds:,.1f} s of training summed over runs (each run's share of its "
        f"population's time)."
    ))  # fmt: skip
    section.blocks.append(Table(
        "sweeps",
        ("id", "name", "status", "created_utc", "runs", "model_epochs", "wall_seconds",
         "run_seconds", "model_epochs_per_s", "devices"),
        rows,
        "Each sweep: when it was created, runs and model-epochs it wrote, wall_seconds "
        "from its creation to its last commit (a resumed sweep includes the pause), "
        "run_seconds summed over its runs, and where they trained.",
    ))  # fmt: skip
    now = datetime.now(timezone.utc).isoformat(sep=" ", timespec="seconds")
    section.blocks.append(Table(
        "provenance",
        ("item", "value"),
        [
            ("store", shown_path(data.path)),
            ("report built", now),
            ("machine", platform.node()),
            ("platform", platform.platform()),
            ("cpu", cpu_name()),
            ("python", sys.version.split()[0]),
            ("sparsest", _version("sparsest")),
            ("torch", _version("torch")),
            ("duckdb", _version("duckdb")),
            ("matplotlib", _version("matplotlib")),
            ("rebuild with", command),
        ],
        "The machine and versions that built this report (the sweeps' devices are in the "
        "table above), and the command that rebuilds it.",
    ))  # fmt: skip
    section.blocks.append(Text(f"Rebuild this report with `{command}`."))
    return section


def build_sections(data: ReportData, command: str) -> list[Section]:
    """All seven sections, in order."""
    return [
        frontier_section(data),
        pruning_section(data),
        overparam_section(data),
        disconnection_section(data),
        fixed_section(data),
        luck_section(data),
        provenance_section(data, command),
    ]
