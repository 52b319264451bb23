"""Wanda for MLPs: prune a trained network by weight times input-activation norm.

Sun, Liu, Bair & Kolter, "A Simple and Effective Pruning Approach for Large Language
Models" (ICLR 2024, arXiv 2306.11695). After dense training, weight (i, j) of a layer
scores

    S_ij = |W_ij| * ||X_j||_2

where X_j is the layer's input feature j over the calibration points (the raw inputs for
the first layer, a hidden layer's ReLU outputs after that). Weights compete only within
their output row (Wanda's per-output comparison group) and every row keeps the same
fraction of its weights (uniform sparsity), no weight is updated. Layers are pruned in
order, each layer's inputs computed through the layers already pruned, as the paper's
code does block by block.

Exact budgets: the model's target k is split over all rows of all layers in proportion
to their weights, n_r k / N, by largest remainders (exact integers, ties to the earlier
row), so the rows' quotas add up to k exactly; a row keeps its top quota scores (ties to
the lower index). Optionally fine-tune afterwards (the paper does not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, Session
from algorithms.connectivity import check_targets
from algorithms.magnitude_after import commit_masks
from algorithms.topk import keep_top

ALL_POINTS = 1 << 30
"""A calibration size past any dataset: the session's batch stops at the data's size."""


@dataclass(frozen=True)
class WandaParams(HyperParameters):
    calibration_points: int | None = field(
        default=None,
        metadata={
            "help": "Points whose activations give the input norms (each model's first in "
            "its data order); none: the whole training set."
        },
    )
    finetune_epochs: int = field(
        default=0, metadata={"help": "Epochs of fine-tuning after the prune (0: none, as Wanda)."}
    )

    def __post_init__(self) -> None:
        if self.calibration_points is not None and self.calibration_points < 1:
            raise ValueError("calibration_points must be at least 1")
        if self.finetune_epochs < 0:
            raise ValueError("finetune_epochs must be at least 0")


def row_quotas(counts: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[M, R] int64 quotas adding up to target[m] per model, proportional to the rows'
    weights counts [M, R]: floor(n_r k / N), then one more for the k - sum rows with the
    largest remainders (ties to the lower row). Needs target <= N."""
    counts = counts.to(torch.int64)
    total = counts.sum(1, keepdim=True).clamp(min=1)
    scaled = counts * target.view(-1, 1)
    base = scaled // total
    remainder = scaled % total
    extra = keep_top(remainder.double(), target - base.sum(1), eligible=remainder > 0)
    return base + extra.to(torch.int64)


def wanda_masks(
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    masks: list[torch.Tensor],
    x: torch.Tensor,
    target: torch.Tensor,
) -> list[torch.Tensor]:
    """New masks keeping exactly target[m] of the kept weights by Wanda's score, per row.

    weights, biases, masks per layer [M, out, in] / [M, out]; x [M, B, in] the calibration
    inputs. Layer l's inputs run through the already pruned layers 0..l-1."""
    counts = torch.cat([m.sum(2) for m in masks], dim=1)
    quotas = row_quotas(counts, target)
    out: list[torch.Tensor] = []
    h = x.to(weights[0].dtype)
    start = 0
    last = len(weights) - 1
    for layer, (w, b, m) in enumerate(zip(weights, biases, masks, strict=True)):
        models, rows, fan_in = w.shape
        norm = h.double().pow(2).sum(1).sqrt()  # [M, in]
        score = w.detach().double().abs() * norm.unsqueeze(1)
        quota = quotas[:, start : start + rows].reshape(-1)
        kept = keep_top(score.reshape(-1, fan_in), quota, m.reshape(-1, fan_in).bool())
        mask = kept.reshape(models, rows, fan_in)
        out.append(mask)
        start += rows
        h = torch.baddbmm(b.detach().unsqueeze(1), h, (w.detach() * mask).transpose(1, 2))
        if layer < last:
            h = torch.relu(h)
    return out


class Wanda:
    """Wanda (Sun et al. 2024): after training, keep |W_ij| ||X_j|| per output row."""

    name: ClassVar[str] = "wanda"
    paper: ClassVar[str] = (
        "Sun, Liu, Bair & Kolter, A Simple and Effective Pruning Approach for Large Language "
        "Models, ICLR 2024"
    )
    summary: ClassVar[str] = (
        "Train dense; keep the largest |w| x input-activation norm in every output row."
    )
    Params: ClassVar[type[HyperParameters]] = WandaParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: WandaParams = params or WandaParams()  # type: ignore[assignment]

    def training_epochs(self, epochs: int) -> int:
        """Epochs a model trains in all: dense training, then the fine-tune (if any)."""
        return epochs + self.params.finetune_epochs

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        session.train()
        x, _ = session.batch(self.params.calibration_points or ALL_POINTS)
        masks = wanda_masks(
            population.weights, population.biases, population.weight_masks, x, target
        )
        commit_masks(population, masks)
        if self.params.finetune_epochs:
            session.train(epochs=self.params.finetune_epochs)
