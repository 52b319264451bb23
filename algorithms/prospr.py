"""ProsPr: prune at initialisation by the meta-gradient of a few training steps.

Alizadeh, Tailor, Zintgraf, van Amersfoort, Farquhar, Lane & Gal, "Prospect Pruning:
Finding Trainable Weights at Initialization using Meta-Gradients" (ICLR 2022, arXiv
2202.08132). Put a multiplicative mask c = 1 on every weight, take `inner_steps` (3) SGD
steps from w ⊙ c (biases train too), and differentiate the loss after them with respect
to c *through* the steps (second-order terms included). Each model keeps the `target`
weights with the largest |dL/dc| (one global ranking over all weight matrices, ties to
the lower index) among the weights it has; then it trains from its original weights.

Inner loop: learning rate `inner_lr`, or each model's own training lr when unset (as the
study's reference passes it); no weight decay. Momentum is 0.9 by default, as in the
study's reference, which passed the training momentum (0.9) to the authors' functional
SGD, whose first momentum buffer is a *detached* copy of the first gradient; the default
reproduces that exactly. `inner_momentum=0` is the paper's inner loop (and its code's
default).
Data: step k uses each model's k-th training mini-batch of its first epoch and the meta
loss the next one (the reference's `new_data_in_inner`); `new_batch_per_step=false`
uses the first batch throughout (the authors' default). The inner steps update only
kept weights and biases, as training does (for a dense start it makes no difference).
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
from algorithms.scoring import Batch, bce_loss, kept_biases, step_batches
from algorithms.topk import global_topk


@dataclass(frozen=True)
class ProsPrParams(HyperParameters):
    inner_steps: int = field(
        default=3, metadata={"help": "SGD steps differentiated through for the meta-gradient."}
    )
    inner_lr: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the inner steps; none: each model's training lr."},
    )
    inner_momentum: float = field(
        default=0.9,
        metadata={"help": "Momentum of the inner steps (0.9: the study's code; 0: the paper)."},
    )
    new_batch_per_step: bool = field(
        default=True,
        metadata={"help": "Each inner step and the meta loss on the next mini-batch."},
    )

    def __post_init__(self) -> None:
        if self.inner_steps < 1:
            raise ValueError("inner_steps must be at least 1")
        if self.inner_lr is not None and self.inner_lr <= 0:
            raise ValueError("inner_lr must be positive")
        if not 0.0 <= self.inner_momentum < 1.0:
            raise ValueError("inner_momentum must be in [0, 1)")


def prospr_scores(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    batches: Sequence[Batch],
    lr: torch.Tensor,
    momentum: float = 0.0,
) -> list[torch.Tensor]:
    """|dL/dc| per weight [M, out, in]: L the loss on batches[-1] after one SGD step on
    each of batches[:-1] from weights w ⊙ c (c = 1); lr [M] per model."""
    dtype = weights[0].dtype
    lr = lr.to(weights[0].device, dtype)
    w_masks = [m.to(dtype) for m in masks]
    b_masks = [m.to(dtype) for m in kept_biases(masks)]
    c = [torch.ones_like(w, requires_grad=True) for w in weights]
    fast = [w.detach() * ci for w, ci in zip(weights, c, strict=True)]
    fast += [b.detach().clone().requires_grad_(True) for b in biases]
    keep = w_masks + b_masks
    depth = len(weights)
    buffers: list[torch.Tensor] | None = None
    for x, y in batches[:-1]:
        loss = bce_loss(mlp_forward(fast[:depth], fast[depth:], x), y).sum()
        grads = torch.autograd.grad(loss, fast, create_graph=True)
        grads = [g * k for g, k in zip(grads, keep, strict=True)]
        if momentum:
            if buffers is None:
                buffers = [g.detach().clone() for g in grads]
            else:
                buffers = [momentum * v + g for v, g in zip(buffers, grads, strict=True)]
            grads = buffers
        fast = [
            p - lr.view(-1, *([1] * (p.dim() - 1))) * g for p, g in zip(fast, grads, strict=True)
        ]
    x, y = batches[-1]
    meta = bce_loss(mlp_forward(fast[:depth], fast[depth:], x), y).sum()
    return [g.abs() for g in torch.autograd.grad(meta, c)]


class ProsPr:
    """ProsPr (Alizadeh et al. 2022): keep the largest meta-gradients after 3 SGD steps."""

    name: ClassVar[str] = "prospr"
    paper: ClassVar[str] = (
        "Alizadeh et al., Prospect Pruning: Finding Trainable Weights at Initialization "
        "using Meta-Gradients, ICLR 2022"
    )
    summary: ClassVar[str] = (
        "At init: keep the largest |d loss / d mask| through 3 differentiated SGD steps."
    )
    Params: ClassVar[type[HyperParameters]] = ProsPrParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: ProsPrParams = params or ProsPrParams()  # type: ignore[assignment]

    def masks(self, session: Session, target: torch.Tensor) -> list[torch.Tensor]:
        population = session.population
        p = self.params
        if p.inner_lr is None:
            lr = torch.as_tensor(population.lr)  # each model's own training lr
        else:
            lr = torch.full((population.size,), p.inner_lr, dtype=torch.float64)
        batches = step_batches(session, p.inner_steps + 1, p.new_batch_per_step)
        scores = prospr_scores(
            population.weights,
            population.biases,
            population.weight_masks,
            batches,
            lr,
            p.inner_momentum,
        )
        return global_topk(scores, target, eligible=population.weight_masks)

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        commit_masks(population, self.masks(session, target))
        session.train()
