"""Iterative SNIP: the SNIP score recomputed while the network is pruned step by step.

de Jorge, Sanyal, Behl, Torr, Rogez & Dokania, "Progressive Skeletonization: Trimming
more fat from a network at initialization" (ICLR 2021, arXiv 2006.09081), the variant
they call Iterative SNIP. Over `steps` steps (10) each model's kept weights shrink on
the exponential schedule n_k = floor(n_start * (target / n_start)^(k / steps)), ending
exactly at the target. Step k scores the network pruned so far, w ⊙ m, by SNIP's
|(w ⊙ m) * dL/dw| on one mini-batch and keeps the top n_k among the weights still kept
(one global ranking, ties to the lower index): a pruned weight never comes back.

Data: the study's reference draws one mini-batch per step from a reshuffling loader;
here step k uses each model's k-th training mini-batch of its first epoch
(`new_batch_per_step`; false reuses the first batch). Weights are not re-initialised
(the reference does not), and biases are left as initialised while scoring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, Session
from algorithms.connectivity import check_targets
from algorithms.magnitude_after import commit_masks
from algorithms.scoring import (
    exponential_schedule,
    last,
    progressive_skeletonization,
    step_batches,
)


@dataclass(frozen=True)
class IterativeSnipParams(HyperParameters):
    steps: int = field(default=10, metadata={"help": "Pruning steps on the exponential schedule."})
    new_batch_per_step: bool = field(
        default=True,
        metadata={"help": "Score each step on the next mini-batch; false: the first one."},
    )

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be at least 1")


def skeleton_masks(
    session: Session, target: torch.Tensor, steps: int, new_batches: bool, revive: bool
) -> list[torch.Tensor]:
    """The final masks of progressive skeletonisation (iterative SNIP or FORCE)."""
    population = session.population
    schedule = exponential_schedule(population.weight_nnz(), target, steps)
    batches = step_batches(session, steps, new_batches)
    weights = [w.detach().clone() for w in population.weights]
    biases = [b.detach().clone() for b in population.biases]
    _, masks = last(
        progressive_skeletonization(
            weights, biases, population.weight_masks, batches, schedule, revive
        )
    )
    return masks


class IterativeSnip:
    """Iterative SNIP (de Jorge et al. 2021): SNIP re-scored over 10 exponential steps."""

    name: ClassVar[str] = "iter-snip"
    paper: ClassVar[str] = (
        "de Jorge et al., Progressive Skeletonization: Trimming more fat from a network "
        "at initialization, ICLR 2021"
    )
    summary: ClassVar[str] = (
        "SNIP re-scored on the pruned network over 10 exponential steps, no revival."
    )
    Params: ClassVar[type[HyperParameters]] = IterativeSnipParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: IterativeSnipParams = params or IterativeSnipParams()  # type: ignore[assignment]

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        p = self.params
        masks = skeleton_masks(session, target, p.steps, p.new_batch_per_step, revive=False)
        commit_masks(population, masks)
        session.train()
