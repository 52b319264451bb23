"""Random pruning at initialisation: the baseline every pruning method must beat.

Keeps, per model, a uniformly random set of exactly `target` weights among all weight
matrices (the output layer included), then trains. As in Liu et al., "The Unreasonable
Effectiveness of Random Pruning: Return of the Most Naive Baseline for Sparse Training"
(ICLR 2022), with a global (not layer-wise) uniform draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from algorithms.base import Draw, HyperParameters, PopulationLike, Session
from algorithms.connectivity import check_targets
from algorithms.magnitude_after import commit_masks
from algorithms.topk import global_topk


def random_masks(population: PopulationLike, keep: torch.Tensor, draw: Draw) -> list[torch.Tensor]:
    """Exactly keep[m] of the weights kept now, chosen uniformly at random per model.

    The top-k of i.i.d. uniform scores is a uniform k-subset. Scores come from `draw`,
    one call per layer in layer order, so a model's mask depends on that model alone.
    """
    scores = [draw(w.shape[1:], False, torch.float64).to(w.device) for w in population.weights]
    return global_topk(scores, keep, eligible=population.weight_masks)


@dataclass(frozen=True)
class RandomParams(HyperParameters):
    """No hyper-parameters: the draw is seeded by the session."""


class RandomMask:
    """Uniformly random mask with exactly the target weights at initialisation, then train."""

    name: ClassVar[str] = "random"
    paper: ClassVar[str] = (
        "Liu et al., The Unreasonable Effectiveness of Random Pruning: Return of the Most "
        "Naive Baseline for Sparse Training, ICLR 2022"
    )
    summary: ClassVar[str] = "Uniformly random weights kept at initialisation (global), then train."
    Params: ClassVar[type[HyperParameters]] = RandomParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params = params or RandomParams()

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        commit_masks(population, random_masks(population, target, session.draw))
        session.train()
