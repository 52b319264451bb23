"""NTK-SAP: data-free pruning at initialisation that keeps the NTK spectrum.

Wang, Li & Sun, "NTK-SAP: Improving Neural Network Pruning by Aligning Training
Dynamics" (ICLR 2023, arXiv 2304.02840). The trace (nuclear norm) of the network's
neural tangent kernel is estimated by finite differences,

    R(m) = sum_x || f(x; θ ⊙ m) - f(x; (θ + ε ξ) ⊙ m) ||²,   ξ ~ N(0, I),

on Gaussian noise inputs x ~ N(0, I) (no data), with fresh weights θ drawn from the
initialisation distribution each time ("multi-sampling", so the mask does not fit one
draw of weights). A weight's saliency is |dR/dm_j| at the current mask, summed over
`samples` draws. As in SynFlow, pruning is iterative: over `rounds` rounds (T = 20 and
R = 5 samples, the authors' CIFAR-10 scripts; ε = 0.01) the kept weights shrink on the
exponential schedule n_k = floor(n_start (target / n_start)^(k/T)), ending exactly at the
target, each round re-scoring the network pruned so far and keeping the top n_k among
the weights still kept (one global ranking, ties to the lower index).
Then the model trains from its own initialisation.

θ is Kaiming-normal, N(0, 2 / fan_in) with the model's own fan-in (as the authors'
code re-initialises); biases are the model's own, masked (PAPER.md's rule). Nothing keeps
a layer alive: as the authors' code warns, the output layer can be pruned away, and with
one sample per round it often is on these tiny networks (a hidden neuron dead under one
draw gives its output weight no saliency), hence R = 5. All of a
round's random numbers come from one `draw` per round, in the order: for each sample,
θ layer by layer, then x, then ξ layer by layer. Scores in float64.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import Draw, HyperParameters, Session
from algorithms.connectivity import check_targets
from algorithms.forward import mlp_forward
from algorithms.magnitude_after import commit_masks
from algorithms.scoring import exponential_schedule, kept_biases, last
from algorithms.topk import global_topk


@dataclass(frozen=True)
class NtkSapParams(HyperParameters):
    rounds: int = field(
        default=20, metadata={"help": "Pruning rounds on the exponential schedule (T)."}
    )
    epsilon: float = field(
        default=0.01, metadata={"help": "Size of the weight perturbation (finite difference)."}
    )
    noise_points: int = field(
        default=128, metadata={"help": "Gaussian noise inputs per weight sample."}
    )
    samples: int = field(
        default=5, metadata={"help": "Fresh weight draws (and noise batches) per round (R)."}
    )

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.noise_points < 1 or self.samples < 1:
            raise ValueError("rounds, noise_points and samples must be at least 1")
        if self.epsilon <= 0:
            raise ValueError("epsilon must be positive")


def ntk_sap_scores(
    theta: Sequence[torch.Tensor],
    xi: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    x: torch.Tensor,
    epsilon: float,
) -> list[torch.Tensor]:
    """|dR/dm| at the masks (zero where pruned), float64, like the weights [M, out, in]."""
    m = [mask.to(torch.float64).requires_grad_(True) for mask in masks]
    b = [
        bias.detach().to(torch.float64) * keep
        for bias, keep in zip(biases, kept_biases(masks), strict=True)
    ]
    plain = mlp_forward([t * mask for t, mask in zip(theta, m, strict=True)], b, x)
    moved = [(t + epsilon * d) * mask for t, d, mask in zip(theta, xi, m, strict=True)]
    perturbed = mlp_forward(moved, b, x)
    grads = torch.autograd.grad((plain - perturbed).pow(2).sum(), m)
    return [g.abs() * mask.bool() for g, mask in zip(grads, masks, strict=True)]


def ntk_sap_rounds(
    biases: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    draw: Draw,
    schedule: Sequence[torch.Tensor],
    params: NtkSapParams,
) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor]]]:
    """Yields (scores, masks) after each round; round k keeps schedule[k] per model."""
    current = [m.bool().clone() for m in masks]
    device = current[0].device
    shapes = [tuple(m.shape[1:]) for m in current]
    fan_in = [m.any(dim=1).sum(dim=1).clamp(min=1).to(torch.float64) for m in current]
    std = [torch.sqrt(2.0 / f).view(-1, 1, 1) for f in fan_in]
    inputs = shapes[0][1]
    sizes = [o * i for o, i in shapes]
    per_sample = 2 * sum(sizes) + params.noise_points * inputs
    for keep in schedule:
        flat = draw((params.samples * per_sample,), True, torch.float32)
        flat = flat.to(device, torch.float64)
        total = [torch.zeros(m.shape, dtype=torch.float64, device=device) for m in current]
        for sample in flat.split(per_sample, dim=1):
            parts = sample.split([*sizes, params.noise_points * inputs, *sizes], dim=1)
            theta = [
                p.reshape(-1, *shape) * s
                for p, shape, s in zip(parts[: len(sizes)], shapes, std, strict=True)
            ]
            x = parts[len(sizes)].reshape(-1, params.noise_points, inputs)
            xi = [
                p.reshape(-1, *shape)
                for p, shape in zip(parts[len(sizes) + 1 :], shapes, strict=True)
            ]
            scores = ntk_sap_scores(theta, xi, biases, current, x, params.epsilon)
            total = [t + s for t, s in zip(total, scores, strict=True)]
        current = global_topk(total, keep, eligible=current)
        yield total, current


class NtkSap:
    """NTK-SAP (Wang et al. 2023): data-free, keep the weights the NTK trace needs most."""

    name: ClassVar[str] = "ntk-sap"
    paper: ClassVar[str] = (
        "Wang, Li & Sun, NTK-SAP: Improving Neural Network Pruning by Aligning "
        "Training Dynamics, ICLR 2023"
    )
    summary: ClassVar[str] = (
        "Data-free at init: 20 exponential rounds keeping the NTK trace's largest "
        "saliencies, fresh weights each round."
    )
    Params: ClassVar[type[HyperParameters]] = NtkSapParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: NtkSapParams = params or NtkSapParams()  # type: ignore[assignment]

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        schedule = exponential_schedule(population.weight_nnz(), target, self.params.rounds)
        rounds = ntk_sap_rounds(
            population.biases, population.weight_masks, session.draw, schedule, self.params
        )
        _, masks = last(rounds)
        commit_masks(population, masks)
        session.train()
