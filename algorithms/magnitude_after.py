"""Magnitude pruning after training: train dense, prune once, fine-tune.

The classic baseline of Han et al., "Learning both Weights and Connections for Efficient
Neural Networks" (NeurIPS 2015), in its one-shot form: train the dense network, keep the
`target` largest-magnitude weights of each model (one global threshold over all weight
matrices, the output layer included) and fine-tune for as many epochs again.

Also home to the two steps every magnitude method here shares: `magnitude_masks` and
`commit_masks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, PopulationLike, Session
from algorithms.connectivity import check_targets
from algorithms.topk import global_topk


def magnitude_masks(population: PopulationLike, keep: torch.Tensor) -> list[torch.Tensor]:
    """Masks keeping exactly keep[m] weights of model m: the largest |w| among the weights
    kept now, across all weight matrices (ties to the lower flat index; NaN ranks last)."""
    scores = [w.detach().abs() for w in population.weights]
    return global_topk(scores, keep, eligible=population.weight_masks)


def commit_masks(population: PopulationLike, masks: Sequence[torch.Tensor]) -> None:
    """Make `masks` the population's weight masks (in place) and zero what they drop."""
    for current, new in zip(population.weight_masks, masks, strict=True):
        current.copy_(new)
    population.apply_masks()


@dataclass(frozen=True)
class MagnitudeAfterParams(HyperParameters):
    finetune_epochs: int | None = field(
        default=None,
        metadata={"help": "Epochs of fine-tuning after the prune; none: as many as training."},
    )

    def __post_init__(self) -> None:
        if self.finetune_epochs is not None and self.finetune_epochs < 1:
            raise ValueError("finetune_epochs must be at least 1")


class MagnitudeAfterTraining:
    """Train dense, one-shot global magnitude prune to the target, fine-tune."""

    name: ClassVar[str] = "magnitude-after"
    paper: ClassVar[str] = (
        "Han et al., Learning both Weights and Connections for Efficient Neural Networks, "
        "NeurIPS 2015"
    )
    summary: ClassVar[str] = (
        "Train dense, keep the largest weights (one global threshold), fine-tune as long."
    )
    Params: ClassVar[type[HyperParameters]] = MagnitudeAfterParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: MagnitudeAfterParams = params or MagnitudeAfterParams()  # type: ignore[assignment]

    def training_epochs(self, epochs: int) -> int:
        """Epochs a model trains in all: dense training, then the fine-tune."""
        return epochs + (self.params.finetune_epochs or epochs)

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        depth = len(population.weights)
        target = check_targets(population.weight_nnz(), target_nnz, depth)
        session.train()
        commit_masks(population, magnitude_masks(population, target))
        session.train(epochs=self.params.finetune_epochs or session.epochs)
