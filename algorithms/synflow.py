"""SynFlow: data-free pruning at initialisation by iterative synaptic flow.

Tanaka, Kunin, Yamins & Ganguli, "Pruning neural networks without any data by
iteratively conserving synaptic flow" (NeurIPS 2020, arXiv 2006.05467). Replace every
kept parameter by its absolute value and feed an all-ones input: R is the summed output
of that linearised network, and the score of weight j is |w_j * dR/dw_j| (its share of
the total "synaptic flow"). Over `rounds` rounds (100) each model's kept weights shrink on
the exponential schedule n_k = floor(n_start (target / n_start)^(k / rounds)), ending
exactly at the target; each round re-scores the network pruned so far and keeps the top
n_k among the weights still kept (one global ranking, ties to the lower index).

Biases take part as |b|, not zeroed, as in the authors' code and the study's reference
(both take the absolute value of every parameter); a hidden neuron's bias counts only
while the neuron has an outgoing weight (PAPER.md's rule, re-derived every round). Scores
are computed in float64: products of |w| along paths can overflow or lose the small
ones in float32 on wide networks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, Session
from algorithms.connectivity import check_targets
from algorithms.forward import mlp_forward
from algorithms.magnitude_after import commit_masks
from algorithms.scoring import exponential_schedule, kept_biases, last
from algorithms.topk import global_topk


@dataclass(frozen=True)
class SynFlowParams(HyperParameters):
    rounds: int = field(
        default=100, metadata={"help": "Pruning rounds on the exponential schedule."}
    )

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError("rounds must be at least 1")


def synflow_scores(
    weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor], masks: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """|w * dR/dw| in float64 for the network with parameters |w| ⊙ m and |b| ⊙ m_b."""
    ws = [
        (w.detach().abs() * m).to(torch.float64).requires_grad_(True)
        for w, m in zip(weights, masks, strict=True)
    ]
    bs = [
        (b.detach().abs() * m).to(torch.float64)
        for b, m in zip(biases, kept_biases(masks), strict=True)
    ]
    ones = torch.ones(ws[0].shape[0], 1, ws[0].shape[2], dtype=torch.float64, device=ws[0].device)
    flow = mlp_forward(ws, bs, ones).sum()
    grads = torch.autograd.grad(flow, ws)
    return [(w.detach() * g).abs() for w, g in zip(ws, grads, strict=True)]


def synflow_rounds(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    schedule: Sequence[torch.Tensor],
) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor]]]:
    """Yields (scores, masks) after each round; round k keeps schedule[k] per model."""
    current = [m.bool().clone() for m in masks]
    for keep in schedule:
        scores = synflow_scores(weights, biases, current)
        current = global_topk(scores, keep, eligible=current)
        yield scores, current


class SynFlow:
    """SynFlow (Tanaka et al. 2020): data-free, 100 rounds of |w * dR/dw| on |θ|."""

    name: ClassVar[str] = "synflow"
    paper: ClassVar[str] = (
        "Tanaka, Kunin, Yamins & Ganguli, Pruning neural networks without any data by "
        "iteratively conserving synaptic flow, NeurIPS 2020"
    )
    summary: ClassVar[str] = (
        "Data-free at init: 100 exponential rounds keeping the largest synaptic flow."
    )
    Params: ClassVar[type[HyperParameters]] = SynFlowParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: SynFlowParams = params or SynFlowParams()  # type: ignore[assignment]

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        schedule = exponential_schedule(population.weight_nnz(), target, self.params.rounds)
        _, masks = last(
            synflow_rounds(population.weights, population.biases, population.weight_masks, schedule)
        )
        commit_masks(population, masks)
        session.train()
