"""SNIP: single-shot pruning at initialisation by connection sensitivity.

Lee, Ajanthan & Torr, "SNIP: Single-shot Network Pruning based on Connection
Sensitivity" (ICLR 2019, arXiv 1810.02340). With a multiplicative mask c on every weight,
the sensitivity of weight j is |dL/dc_j| at c = 1, which is |w_j * dL/dw_j|, on one
mini-batch (each model's first training batch). Each model keeps its `target` most
sensitive weights, one global ranking over all weight matrices (the output layer
included, ties to the lower index), among the weights it has; then it trains.

Xavier re-init (`xavier_reinit`, on by default): in its random-initialisation runs the
study's reference re-initialised every weight Xavier-normal *on the model itself* before
SNIP (the biases keep their nn.Linear init), so the scored weights are also the weights
that train. The fixed-initialisation protocol turns it off to keep the search's init.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, Session
from algorithms.connectivity import check_targets
from algorithms.magnitude_after import commit_masks
from algorithms.scoring import loss_gradients, xavier_normal_
from algorithms.topk import global_topk


@dataclass(frozen=True)
class SnipParams(HyperParameters):
    xavier_reinit: bool = field(
        default=True,
        metadata={
            "help": "Re-initialise weights Xavier-normal before scoring (the study's "
            "random-init runs); false keeps the given init (fixed-init protocol)."
        },
    )


def snip_scores(
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
) -> list[torch.Tensor]:
    """Connection sensitivity |w * dL/dw| per weight, like the weights [M, out, in]."""
    grads = loss_gradients(weights, biases, x, y)
    return [(w.detach() * g).abs() for w, g in zip(weights, grads, strict=True)]


class Snip:
    """SNIP (Lee et al. 2019): keep the weights with the largest |w * dL/dw| at init."""

    name: ClassVar[str] = "snip"
    paper: ClassVar[str] = (
        "Lee, Ajanthan & Torr, SNIP: Single-shot Network Pruning based on Connection "
        "Sensitivity, ICLR 2019"
    )
    summary: ClassVar[str] = (
        "One-shot at init: keep the largest connection sensitivities |w * dL/dw| (global)."
    )
    Params: ClassVar[type[HyperParameters]] = SnipParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: SnipParams = params or SnipParams()  # type: ignore[assignment]

    def masks(self, session: Session, target: torch.Tensor) -> list[torch.Tensor]:
        """Re-initialises (if asked) and returns the SNIP masks; does not apply them."""
        population = session.population
        if self.params.xavier_reinit:
            xavier_normal_(population, session.draw)
        x, y = session.batch()
        scores = snip_scores(population.weights, population.biases, x, y)
        return global_topk(scores, target, eligible=population.weight_masks)

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        target = check_targets(population.weight_nnz(), target_nnz, len(population.weights))
        commit_masks(population, self.masks(session, target))
        session.train()
