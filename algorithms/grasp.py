"""GraSP: prune at initialisation while preserving gradient flow.

Wang, Zhang & Grosse, "Picking Winning Tickets Before Training by Preserving Gradient
Flow" (ICLR 2020, arXiv 2002.07376). The score S = -w ⊙ (H g), with g the loss gradient
and H the Hessian (a Hessian-gradient product by double backprop), estimates how much
removing a weight *reduces* the gradient norm: a large S means removing it reduces
gradient flow the least (or even increases it). GraSP removes the weights with the
highest S, i.e. each model keeps the `target` weights with the lowest S (one global
ranking over all weight matrices, ties to the lower index).

As in the authors' code (which the study's reference uses): the logits are divided by a
temperature T = 200; the data is a class-balanced sample of `samples_per_class` points
per class (25) from each model's first epoch order, class 0 first; it is split into two
halves (with two classes: one per class), g is the sum of the two halves' mean
gradients, and H g the sum of each half's Hessian applied to that g. The reference's
normalisation of S by |sum S| does not change the ranking and is left out.

Xavier re-init (`xavier_reinit`, on by default) as in SNIP: the study's random-init runs
re-initialised every weight Xavier-normal on the model itself before GraSP (biases kept);
the fixed-init protocol turns it off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, Session
from algorithms.connectivity import check_targets
from algorithms.forward import mlp_forward
from algorithms.magnitude_after import commit_masks
from algorithms.scoring import bce_loss, xavier_normal_
from algorithms.topk import global_topk


@dataclass(frozen=True)
class GraspParams(HyperParameters):
    samples_per_class: int = field(
        default=25, metadata={"help": "Points per class in the balanced scoring sample."}
    )
    temperature: float = field(
        default=200.0, metadata={"help": "The logits are divided by this before the loss."}
    )
    xavier_reinit: bool = field(
        default=True,
        metadata={
            "help": "Re-initialise weights Xavier-normal before scoring (the study's "
            "random-init runs); false keeps the given init (fixed-init protocol)."
        },
    )

    def __post_init__(self) -> None:
        if self.samples_per_class < 1:
            raise ValueError("samples_per_class must be at least 1")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")


def grasp_scores(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    halves: Sequence[tuple[torch.Tensor, torch.Tensor]],
    temperature: float,
) -> list[torch.Tensor]:
    """S = -w ⊙ (H g) per weight [M, out, in]: g the sum of the halves' gradients, H g
    the sum of each half's Hessian-vector product with g (biases held fixed)."""
    ws = [w.detach().requires_grad_(True) for w in weights]
    bs = [b.detach() for b in biases]

    def loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return bce_loss(mlp_forward(ws, bs, x) / temperature, y).sum()

    g = [torch.zeros_like(w) for w in ws]
    for x, y in halves:
        g = [a + b for a, b in zip(g, torch.autograd.grad(loss(x, y), ws), strict=True)]
    hg = [torch.zeros_like(w) for w in ws]
    for x, y in halves:
        grads = torch.autograd.grad(loss(x, y), ws, create_graph=True)
        z = sum((a * b).sum() for a, b in zip(g, grads, strict=True))
        hg = [a + b for a, b in zip(hg, torch.autograd.grad(z, ws), strict=True)]
    return [-(w.detach() * h) for w, h in zip(ws, hg, strict=True)]


class Grasp:
    """GraSP (Wang et al. 2020): keep the weights with the lowest -w ⊙ Hg."""

    name: ClassVar[str] = "grasp"
    paper: ClassVar[str] = (
        "Wang, Zhang & Grosse, Picking Winning Tickets Before Training by Preserving "
        "Gradient Flow, ICLR 2020"
    )
    summary: ClassVar[str] = (
        "One-shot at init: drop the weights whose removal least reduces gradient flow."
    )
    Params: ClassVar[type[HyperParameters]] = GraspParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: GraspParams = params or GraspParams()  # type: ignore[assignment]

    def masks(self, session: Session, target: torch.Tensor) -> list[torch.Tensor]:
        """Re-initialises (if asked) and returns the GraSP masks; does not apply them."""
        population = session.population
        p = self.params
        if p.xavier_reinit:
            xavier_normal_(population, session.draw)
        x, y = session.batch(2 * p.samples_per_class, balanced=True)
        half = x.shape[1] // 2
        halves = [(x[:, :half], y[:, :half]), (x[:, half:], y[:, half:])]
        scores = grasp_scores(population.weights, population.biases, halves, p.temperature)
        keep_lowest = [-s for s in scores]
        return global_topk(keep_lowest, target, eligible=population.weight_masks)

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        commit_masks(population, self.masks(session, target))
        session.train()
