"""A demo sparsest plug-in: keep the largest initial weights, then train."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from algorithms.base import HyperParameters, Session
from algorithms.magnitude_after import commit_masks, magnitude_masks


@dataclass(frozen=True)
class MagnitudeAtInitParams(HyperParameters):
    train: bool = field(default=True, metadata={"help": "Train after pruning."})


class MagnitudeAtInit:
    """Global magnitude pruning at initialisation (a baseline), then train."""

    name: ClassVar[str] = "demo-magnitude-init"
    paper: ClassVar[str] = "Demo plug-in (no paper)"
    summary: ClassVar[str] = "Keep the largest initial |w| (global), then train."
    Params: ClassVar[type[HyperParameters]] = MagnitudeAtInitParams

    def __init__(self, params: HyperParameters | None = None) -> None:
        self.params: MagnitudeAtInitParams = params or MagnitudeAtInitParams()  # type: ignore[assignment]

    def run(self, session: Session, target_nnz: torch.Tensor) -> None:
        population = session.population
        commit_masks(population, magnitude_masks(population, target_nnz))
        if self.params.train:
            session.train()
