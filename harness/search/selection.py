"""Reading the answers off the runs: minimal structures (phase 1), the frontier and
the Pareto curve (phase 2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from store.records import RunRecord


@dataclass(frozen=True)
class MinimalStructure:
    """Phase 1's answer for one target; `run` is the structure's best run (None: no
    structure reached the target)."""

    target: float
    run: RunRecord | None

    def as_json(self) -> dict[str, object]:
        r = self.run
        return {
            "target": self.target,
            "structure": list(r.widths) if r else None,
            "params": r.model_nnz if r else None,
            "weight_nnz": r.weight_nnz if r else None,
            "accuracy": r.accuracy if r else None,
            "lr": r.lr if r else None,
            "schedule": r.schedule if r else None,
            "seed": r.seed if r else None,
        }


@dataclass(frozen=True)
class FrontierPoint:
    """The sparsest run reaching `target`, and of its mask's seeds how many did."""

    target: float
    run: RunRecord | None
    seeds_reached: int = 0
    seeds: int = 0

    def as_json(self) -> dict[str, object]:
        r = self.run
        return {
            "target": self.target,
            "weight_nnz": r.weight_nnz if r else None,
            "model_nnz": r.model_nnz if r else None,
            "accuracy": r.accuracy if r else None,
            "run_key": r.run_key if r else None,
            "lr": r.lr if r else None,
            "schedule": r.schedule if r else None,
            "seed": r.seed if r else None,
            "mask": r.mask.hex() if r and r.mask is not None else None,
            "seeds_reached": self.seeds_reached,
            "seeds": self.seeds,
        }


@dataclass(frozen=True)
class ParetoPoint:
    """The best accuracy at one weight nnz; `on_frontier` when no sparser run does as well."""

    weight_nnz: int
    accuracy: float
    run_key: str
    on_frontier: bool


def reaches(accuracy: float, target: float) -> bool:
    """Accuracies are exact fractions correct/points in float64, as the store compares."""
    return accuracy >= target


def check_targets(targets: Sequence[float]) -> tuple[float, ...]:
    bad = [t for t in targets if not 0 < t <= 1]
    if not targets or bad:
        raise ValueError(f"accuracy targets must lie in (0, 1], got {list(targets)}")
    return tuple(float(t) for t in targets)


def _best(runs: Sequence[RunRecord]) -> RunRecord | None:
    live = [r for r in runs if not r.diverged]
    return min(live, key=lambda r: (-r.accuracy, r.run_key)) if live else None


def minimal_structures(
    records: Sequence[RunRecord], targets: Sequence[float]
) -> list[MinimalStructure]:
    """Per target: fewest parameters (model nnz) among structures whose best run reaches
    it; ties go to fewer neurons, then to the smaller widths."""
    by_structure: dict[tuple[int, ...], list[RunRecord]] = {}
    for r in records:
        by_structure.setdefault(tuple(r.widths), []).append(r)
    best = [b for b in map(_best, by_structure.values()) if b is not None]
    result = []
    for target in check_targets(targets):
        fit = [b for b in best if reaches(b.accuracy, target)]
        pick = min(fit, key=lambda b: (b.model_nnz, sum(b.widths), b.widths), default=None)
        result.append(MinimalStructure(target, pick))
    return result


def frontier(records: Sequence[RunRecord], targets: Sequence[float]) -> list[FrontierPoint]:
    """Per target: the run with the fewest weights (then model nnz, then the best
    accuracy) reaching it, and how many of that mask's seeds reached it."""
    live = [r for r in records if not r.diverged]
    result = []
    for target in check_targets(targets):
        fit = [r for r in live if reaches(r.accuracy, target)]
        pick = min(
            fit, key=lambda r: (r.weight_nnz, r.model_nnz, -r.accuracy, r.run_key), default=None
        )
        if pick is None:
            result.append(FrontierPoint(target, None))
            continue
        same = [
            r
            for r in live
            if (r.widths, r.init_mode, r.mask) == (pick.widths, pick.init_mode, pick.mask)
        ]
        reached = {r.seed for r in same if reaches(r.accuracy, target)}
        result.append(FrontierPoint(target, pick, len(reached), len({r.seed for r in same})))
    return result


def pareto_curve(records: Sequence[RunRecord]) -> list[ParetoPoint]:
    """The best accuracy at each weight nnz, sparsest first."""
    by_nnz: dict[int, RunRecord] = {}
    for r in records:
        if r.diverged:
            continue
        held = by_nnz.get(r.weight_nnz)
        if held is None or (-r.accuracy, r.run_key) < (-held.accuracy, held.run_key):
            by_nnz[r.weight_nnz] = r
    points, record = [], -1.0
    for nnz in sorted(by_nnz):
        r = by_nnz[nnz]
        points.append(ParetoPoint(nnz, r.accuracy, r.run_key, r.accuracy > record))
        record = max(record, r.accuracy)
    return points
