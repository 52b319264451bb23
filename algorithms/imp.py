"""Gradual magnitude pruning during training (the study's "IMP").

Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of pruning for model
compression" (ICLR 2018 workshop, arXiv 1710.01878). Pruning events are spread evenly
through one training run; after event i of E (t = i / E) each model keeps

    n(t) = n_final + floor((n_start - n_final) * (1 - t)^3)

weights, so it reaches exactly n_final at the last event. At each event the kept weights
are the largest |w| among those still kept, one global threshold across all weight
matrices (the output layer included), ties to the lower index (algorithms.topk).

Event i runs before optimiser step floor(i * T / (E + 1)) of the T steps: the events
split training into E + 1 equal parts, so the last part fine-tunes the final mask (the
study's reference prunes every int(T / 200) steps). With fewer steps than events, events
that land on one step merge into the last of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, Session, StepCallback, TrainStateLike
from algorithms.connectivity import check_targets
from algorithms.magnitude_after import commit_masks, magnitude_masks


@dataclass(frozen=True)
class GradualMagnitudeParams(HyperParameters):
    pruning_events: int = field(
        default=200, metadata={"help": "Pruning events, evenly spaced through training."}
    )
    exponent: float = field(
        default=3.0, metadata={"help": "Power of the schedule n(t) (3: Zhu & Gupta's cubic)."}
    )

    def __post_init__(self) -> None:
        if self.pruning_events < 1:
            raise ValueError("pruning_events must be at least 1")
        if self.exponent <= 0:
            raise ValueError("exponent must be positive")


def event_schedule(total_steps: int, events: int) -> dict[int, int]:
    """{optimiser step: event index i in 1..events}; a step hit twice keeps the later i."""
    return {i * total_steps // (events + 1): i for i in range(1, events + 1)}


def weights_left(
    n_start: torch.Tensor, n_final: torch.Tensor, fraction: float, exponent: float = 3.0
) -> torch.Tensor:
    """n(t) per model, exact integers: n_final + floor((n_start - n_final)(1 - t)^exponent)."""
    decay = (1.0 - fraction) ** exponent
    span = (n_start - n_final).to(torch.float64)
    return n_final + torch.floor(span * decay).to(torch.int64)


class GradualPruning(StepCallback):
    """Prunes the population on `event_schedule` towards `target` (a StepCallback)."""

    def __init__(self, n_start: torch.Tensor, target: torch.Tensor, events: int, exponent: float):
        self.n_start, self.target = n_start, target
        self.events, self.exponent = events, exponent
        self.schedule: dict[int, int] = {}

    def event_steps(self, total_steps: int, steps_per_epoch: int) -> Sequence[int]:
        self.schedule = event_schedule(total_steps, self.events)
        return sorted(self.schedule)

    def budget(self, step: int) -> torch.Tensor:
        """Weights [M] each model keeps after the event at `step` (the schedule's count)."""
        fraction = self.schedule[step] / self.events
        return weights_left(self.n_start, self.target, fraction, self.exponent)

    def on_event(self, state: TrainStateLike, session: Session) -> None:
        keep = self.budget(state.step)
        commit_masks(state.population, magnitude_masks(state.population, keep))


class GradualMagnitude:
    """Gradual magnitude pruning (Zhu & Gupta): cubic schedule, 200 global prunes."""

    name: ClassVar[str] = "imp"
    paper: ClassVar[str] = (
        "Zhu & Gupta, To prune, or not to prune: exploring the efficacy of pruning for "
        "model compression, ICLR 2018 workshop"
    )
    summary: ClassVar[str] = (
        "Gradual magnitude pruning during training: 200 global prunes on a cubic schedule."
    )
    Params: ClassVar[type[HyperParameters]] = GradualMagnitudeParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: GradualMagnitudeParams = params or GradualMagnitudeParams()  # type: ignore[assignment]

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        n_start = population.weight_nnz()
        target = check_targets(n_start, target_nnz, len(population.weights))
        callback = GradualPruning(n_start, target, self.params.pruning_events, self.params.exponent)
        session.train(callbacks=[callback])
        if not bool((population.weight_nnz() == target).all()):
            # Only a training with no optimiser step at all skips the last event.
            commit_masks(population, magnitude_masks(population, target))
