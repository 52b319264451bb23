"""FORCE: progressive skeletonisation with the initial weights kept while scoring.

de Jorge, Sanyal, Behl, Torr, Rogez & Dokania, "Progressive Skeletonization: Trimming
more fat from a network at initialization" (ICLR 2021, arXiv 2006.09081). FORCE asks
which weights matter *to the pruned network*: with w the initial weights and m the mask
so far, the saliency of weight j is |w_j * dL/dw_j| with the gradient taken at w ⊙ m, so
pruned weights still receive a gradient and a score. Over `steps` steps (10) the kept
weights shrink on the exponential schedule n_k = floor(n_start (target / n_start)^(k /
steps)), ending exactly at the target; step k keeps the top n_k of *all* the weights the
model started with (one global ranking, ties to the lower index). So, unlike iterative
SNIP, FORCE may revive a weight pruned at an earlier step: the paper's and the
reference's definition (its mask is recomputed from every weight's saliency each step).

Data as in iterative SNIP: step k uses each model's k-th training mini-batch of its first
epoch (the reference draws a fresh shuffled batch per step). No re-initialisation; biases
stay as initialised while scoring (the reference masks weights only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, Session
from algorithms.connectivity import check_targets
from algorithms.iter_snip import skeleton_masks
from algorithms.magnitude_after import commit_masks


@dataclass(frozen=True)
class ForceParams(HyperParameters):
    steps: int = field(default=10, metadata={"help": "Pruning steps on the exponential schedule."})
    new_batch_per_step: bool = field(
        default=True,
        metadata={"help": "Score each step on the next mini-batch; false: the first one."},
    )

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be at least 1")


class Force:
    """FORCE (de Jorge et al. 2021): |w0 * dL/dw| at the pruned network, 10 steps."""

    name: ClassVar[str] = "force"
    paper: ClassVar[str] = (
        "de Jorge et al., Progressive Skeletonization: Trimming more fat from a network "
        "at initialization, ICLR 2021"
    )
    summary: ClassVar[str] = (
        "Progressive skeletonisation: |w0 * grad of the pruned net|, 10 steps, may revive."
    )
    Params: ClassVar[type[HyperParameters]] = ForceParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: ForceParams = params or ForceParams()  # type: ignore[assignment]

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        p = self.params
        masks = skeleton_masks(session, target, p.steps, p.new_batch_per_step, revive=True)
        commit_masks(population, masks)
        session.train()
