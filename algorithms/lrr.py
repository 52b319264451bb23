"""Learning-rate rewinding: iterative magnitude pruning that rewinds the schedule, not
the weights.

Renda, Frankle & Carbin, "Comparing Rewinding and Fine-tuning in Neural Network Pruning"
(ICLR 2020, arXiv 2003.02389). Train to completion; keep the largest |w| (one global
threshold over all weight matrices, among the weights still kept) down to the next level
of a geometric schedule; then retrain *from the trained weights* with a fresh optimiser
and the whole learning-rate schedule from its start, for as long as the first training.
Repeat until the target. The lottery ticket (algorithms.lth) differs only in also
rewinding the weights to their initial values.

The levels are the lottery ticket's (`geometric_levels`: n_start (n_final / n_start)^(k/R),
the last exactly n_final) with the study's R = 4 rounds by default, so the two methods
differ in what they rewind alone (Renda et al. prune 20% per round: set `rounds` to taste).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, Session
from algorithms.connectivity import check_targets
from algorithms.lth import geometric_levels
from algorithms.magnitude_after import commit_masks, magnitude_masks


@dataclass(frozen=True)
class LearningRateRewindingParams(HyperParameters):
    rounds: int = field(
        default=4, metadata={"help": "Prune-and-retrain rounds (trainings: rounds + 1)."}
    )
    round_epochs: int | None = field(
        default=None, metadata={"help": "Epochs per training; none: the session's epochs."}
    )

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError("rounds must be at least 1")
        if self.round_epochs is not None and self.round_epochs < 1:
            raise ValueError("round_epochs must be at least 1")


class LearningRateRewinding:
    """LRR (Renda et al. 2020): prune by global magnitude, retrain with the lr schedule
    rewound to its start and the weights kept as trained."""

    name: ClassVar[str] = "lrr"
    paper: ClassVar[str] = (
        "Renda, Frankle & Carbin, Comparing Rewinding and Fine-tuning in Neural Network "
        "Pruning, ICLR 2020"
    )
    summary: ClassVar[str] = (
        "Train, prune by global magnitude, retrain from the trained weights with the lr "
        "schedule rewound; 5 trainings."
    )
    Params: ClassVar[type[HyperParameters]] = LearningRateRewindingParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: LearningRateRewindingParams = params or LearningRateRewindingParams()  # type: ignore[assignment]

    def training_epochs(self, epochs: int) -> int:
        """Epochs a model trains in all: rounds + 1 trainings."""
        return (self.params.rounds + 1) * (self.params.round_epochs or epochs)

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        n_start = population.weight_nnz()
        target = check_targets(n_start, target_nnz, len(population.weights))
        epochs = self.params.round_epochs or session.epochs
        session.train(epochs=epochs)
        for keep in geometric_levels(n_start, target, self.params.rounds):
            commit_masks(population, magnitude_masks(population, keep))
            session.train(epochs=epochs)
