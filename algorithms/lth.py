"""Lottery ticket: iterative magnitude pruning with rewinding to the initialisation.

Frankle & Carbin, "The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural
Networks" (ICLR 2019). Save the initial weights; train; keep the largest |w| (one global
threshold over all weight matrices, among the weights still kept) down to the next level
of the geometric schedule

    n_k = floor(n_start * (n_final / n_start)^(k / R)),  k = 1..R  (n_R = n_final exactly)

rewind the survivors (weights and kept biases) to their initial values, bit for bit, and
train again from a fresh optimiser and lr schedule: R + 1 trainings in all (the study: R =
4 rounds of 50 epochs, 250 epochs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, PopulationLike, Session
from algorithms.connectivity import check_targets
from algorithms.magnitude_after import commit_masks, magnitude_masks


@dataclass(frozen=True)
class LotteryTicketParams(HyperParameters):
    rounds: int = field(
        default=4, metadata={"help": "Prune-and-rewind rounds (trainings: rounds + 1)."}
    )
    round_epochs: int | None = field(
        default=None, metadata={"help": "Epochs per training; none: the session's epochs."}
    )

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError("rounds must be at least 1")
        if self.round_epochs is not None and self.round_epochs < 1:
            raise ValueError("round_epochs must be at least 1")


def geometric_levels(n_start: torch.Tensor, n_final: torch.Tensor, rounds: int) -> torch.Tensor:
    """[rounds, M] weights kept after each round: n_start (n_final / n_start)^(k / rounds),
    floored, never below n_final, the last exactly n_final."""
    start = n_start.to(torch.float64)
    ratio = n_final.to(torch.float64) / start
    levels = [
        torch.maximum(torch.floor(start * ratio ** (k / rounds)).to(torch.int64), n_final)
        for k in range(1, rounds)
    ]
    return torch.stack([*levels, n_final.to(torch.int64)])


def rewind(
    population: PopulationLike, weights: list[torch.Tensor], biases: list[torch.Tensor]
) -> None:
    """Set every kept weight and bias back to the saved values (masked ones to zero)."""
    for current, saved in zip(population.weights, weights, strict=True):
        current.copy_(saved)
    for current, saved in zip(population.biases, biases, strict=True):
        current.copy_(saved)
    population.apply_masks()


class LotteryTicket:
    """Lottery ticket (Frankle & Carbin): 4 global magnitude prunes, rewinding to init."""

    name: ClassVar[str] = "lth"
    paper: ClassVar[str] = (
        "Frankle & Carbin, The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural "
        "Networks, ICLR 2019"
    )
    summary: ClassVar[str] = (
        "Train, prune by global magnitude on a geometric schedule, rewind to init; 5 trainings."
    )
    Params: ClassVar[type[HyperParameters]] = LotteryTicketParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: LotteryTicketParams = params or LotteryTicketParams()  # type: ignore[assignment]

    def training_epochs(self, epochs: int) -> int:
        """Epochs a model trains in all: rounds + 1 trainings."""
        return (self.params.rounds + 1) * (self.params.round_epochs or epochs)

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        n_start = population.weight_nnz()
        target = check_targets(n_start, target_nnz, len(population.weights))
        initial_weights = [w.detach().clone() for w in population.weights]
        initial_biases = [b.detach().clone() for b in population.biases]
        epochs = self.params.round_epochs or session.epochs
        session.train(epochs=epochs)
        for keep in geometric_levels(n_start, target, self.params.rounds):
            commit_masks(population, magnitude_masks(population, keep))
            rewind(population, initial_weights, initial_biases)
            session.train(epochs=epochs)
