"""RigL: dynamic sparse training that drops small weights and regrows by gradient.

Evci, Gale, Menick, Castro & Elsen, "Rigging the Lottery: Making All Tickets Winners"
(ICML 2020). The sparse topology is set before training and changed during it:

- Allocation (ERK): layer l gets density proportional to (in + out) / (in * out), scaled
  so the counts sum to the target. A layer whose density would pass 1 (the 2 -> d input
  layer, the d -> 1 output layer of a small MLP) is kept dense and the others are
  rescaled, repeatedly; fractional counts are rounded by largest remainder (ties to the
  lower layer), so each model's total is exactly its target.
- Initial mask: per layer, a uniformly random set of that many weights (session seed).
- Every `update_interval` optimiser steps, until `end_fraction` of training: in each
  layer drop the fraction f(t) = drop_fraction / 2 * (1 + cos(pi * t / T_end)) of its
  active weights with the smallest |w|, and regrow as many inactive ones (just-dropped
  included) with the largest dense gradient |dL/dw|. Regrown connections start at zero
  with zero momentum; a dropped weight regrown at once keeps its value, as in the
  reference code. Per-layer counts never change, so the total stays exact. Then the
  topology is frozen.

The gradient is taken on a fresh mini-batch of each model's own data (successive
batch-size slices of its first-epoch order), not on the batch of the step that follows:
the harness runs steps in a fused engine and hands callbacks the state between steps.
The optimiser step after an update is not skipped (the reference skips one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import (
    Draw,
    HyperParameters,
    PopulationLike,
    Session,
    StepCallback,
    TrainStateLike,
)
from algorithms.connectivity import check_targets
from algorithms.magnitude_after import commit_masks
from algorithms.topk import keep_top, layer_topk


@dataclass(frozen=True)
class RigLParams(HyperParameters):
    update_interval: int = field(
        default=100, metadata={"help": "Optimiser steps between drop/grow updates (delta T)."}
    )
    drop_fraction: float = field(
        default=0.3, metadata={"help": "Fraction of active weights dropped at the first update."}
    )
    end_fraction: float = field(
        default=0.75, metadata={"help": "Fraction of training after which the topology is frozen."}
    )

    def __post_init__(self) -> None:
        if self.update_interval < 1:
            raise ValueError("update_interval must be at least 1")
        if not 0.0 <= self.drop_fraction <= 1.0:
            raise ValueError("drop_fraction must be in [0, 1]")
        if not 0.0 <= self.end_fraction <= 1.0:
            raise ValueError("end_fraction must be in [0, 1]")


def erk_counts(
    shapes: Sequence[tuple[int, int]], capacity: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Exact ERK weight counts [M, L] summing to target [M].

    shapes: (out, in) per layer; capacity [M, L]: weights available per layer (kept now).
    Layer l's share is eps * (in + out) / (in * out) * capacity, capped at capacity; the
    capped layers are set dense and eps recomputed until none passes its capacity.
    """
    cap = capacity.to(torch.float64).cpu()
    goal = target.to(torch.float64).cpu()
    perimeter = torch.tensor([o + i for o, i in shapes], dtype=torch.float64)
    area = torch.tensor([o * i for o, i in shapes], dtype=torch.float64)
    weight = perimeter * (cap / area)  # raw density x capacity; exactly in + out when dense
    dense = torch.zeros(cap.shape, dtype=torch.bool)
    eps = torch.zeros(cap.shape[0], dtype=torch.float64)
    for _ in range(len(shapes) + 1):
        remaining = goal - (cap * dense).sum(1)
        share = (weight * ~dense).sum(1)
        eps = torch.where(share > 0, remaining / share.clamp_min(1e-300), torch.zeros_like(share))
        over = ~dense & (eps.unsqueeze(1) * weight > cap)
        if not bool(over.any()):
            break
        dense |= over
    alloc = torch.where(dense, cap, eps.unsqueeze(1) * weight)
    base = torch.minimum(torch.floor(alloc), cap)
    deficit = (goal - base.sum(1)).to(torch.int64)
    extra = keep_top(alloc - base, deficit, eligible=~dense & (base < cap))
    counts = (base + extra).to(torch.int64)
    if not bool((counts.sum(1) == target.cpu()).all()):
        raise RuntimeError("ERK allocation missed a target; please report this")
    return counts.to(capacity.device)


def drop_fraction_at(step: int, end_step: int, initial: float) -> float:
    """Cosine-decayed drop fraction at optimiser step `step` of a T_end = end_step run."""
    return initial / 2 * (1 + math.cos(math.pi * step / end_step))


def drop_and_grow(
    weights: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    fraction: float,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """One RigL update of every layer of M models: (new masks, new connections).

    Per model and layer: keep the n - floor(fraction * n) largest |w| of the n active
    weights, then grow floor(fraction * n) of the others by largest |grad|. New
    connections are grown weights that were not active before.
    """
    new_masks, new_connections = [], []
    for w, mask, grad in zip(weights, masks, grads, strict=True):
        active = mask.flatten(1).bool()
        n_active = active.sum(1)
        n_drop = torch.floor(n_active.to(torch.float64) * fraction).to(torch.int64)
        kept = keep_top(w.detach().abs().flatten(1), n_active - n_drop, eligible=active)
        grown = keep_top(grad.detach().abs().flatten(1), n_drop, eligible=~kept)
        new_masks.append((kept | grown).reshape(mask.shape))
        new_connections.append((grown & ~active).reshape(mask.shape))
    return new_masks, new_connections


class RigLUpdates(StepCallback):
    """The drop/grow updates of one training run, as a StepCallback."""

    def __init__(self, params: RigLParams) -> None:
        self.params = params
        self.end_step = 0
        self.batches: tuple[torch.Tensor, torch.Tensor] | None = None

    def event_steps(self, total_steps: int, steps_per_epoch: int) -> Sequence[int]:
        self.end_step = int(self.params.end_fraction * total_steps)
        return list(range(self.params.update_interval, self.end_step, self.params.update_interval))

    def _batch(self, session: Session, update: int) -> tuple[torch.Tensor, torch.Tensor]:
        size = session.batch_size
        if self.batches is None:
            updates = max(1, self.end_step // self.params.update_interval)
            self.batches = session.batch(size=updates * size)
        x, y = self.batches
        rows = x.shape[1]
        start = (update * size) % max(1, rows - size + 1)
        return x[:, start : start + size], y[:, start : start + size]

    def on_event(self, state: TrainStateLike, session: Session) -> None:
        population = state.population
        fraction = drop_fraction_at(state.step, self.end_step, self.params.drop_fraction)
        x, y = self._batch(session, state.step // self.params.update_interval - 1)
        grads, _, _ = session.gradients(x, y, population)
        bias_before = population.bias_masks
        masks, new = drop_and_grow(population.weights, population.weight_masks, grads, fraction)
        for w, momentum, grown in zip(population.weights, state.weight_momentum, new, strict=True):
            w.masked_fill_(grown, 0.0)
            momentum.masked_fill_(grown, 0.0)
        commit_masks(population, masks)
        for before, after, momentum in zip(
            bias_before, population.bias_masks, state.bias_momentum, strict=True
        ):
            momentum.masked_fill_(after & ~before, 0.0)


def initial_masks(
    population: PopulationLike, target: torch.Tensor, draw: Draw
) -> list[torch.Tensor]:
    """ERK counts per layer, each layer's weights drawn uniformly among those kept now
    (scores from `draw`, one call per layer in layer order)."""
    shapes = [(int(w.shape[1]), int(w.shape[2])) for w in population.weights]
    capacity = torch.stack([m.flatten(1).sum(1) for m in population.weight_masks], dim=1)
    counts = erk_counts(shapes, capacity, target)
    scores = [draw(w.shape[1:], False, torch.float64).to(w.device) for w in population.weights]
    return layer_topk(scores, counts, eligible=population.weight_masks)


class RigL:
    """RigL (Evci et al. 2020): ERK allocation, drop by magnitude, regrow by gradient."""

    name: ClassVar[str] = "rigl"
    paper: ClassVar[str] = (
        "Evci, Gale, Menick, Castro & Elsen, Rigging the Lottery: Making All Tickets "
        "Winners, ICML 2020"
    )
    summary: ClassVar[str] = (
        "Dynamic sparse training: ERK random mask, drop smallest, regrow by gradient."
    )
    Params: ClassVar[type[HyperParameters]] = RigLParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: RigLParams = params or RigLParams()  # type: ignore[assignment]

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        commit_masks(population, initial_masks(population, target, session.draw))
        session.train(callbacks=[RigLUpdates(self.params)])
