"""What a search trains: the hyper-parameter grid and each phase's config."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from harness.search.masks import DEFAULT_MAX_MASKS, Symmetry
from harness.training.population import schedule_code
from harness.training.schedules import SCHEDULES


@dataclass(frozen=True)
class Grid:
    """The hyper-parameter grid every structure or mask is trained over."""

    lrs: tuple[float, ...] = (0.05, 0.1)
    schedules: tuple[str, ...] = SCHEDULES
    seeds: int = 1
    epochs: int = 50

    def points(self) -> list[tuple[float, str, int]]:
        return list(itertools.product(self.lrs, self.schedules, range(self.seeds)))

    def validate(self) -> None:
        if not self.lrs or any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"learning rates must be positive, got {self.lrs}")
        for name in self.schedules:
            schedule_code(name)
        if self.seeds < 1 or self.epochs < 1:
            raise ValueError("seeds and epochs must be at least 1")


REFERENCE_WIDTH = 16
"""The reference draws every search network 2-16-16-16-1 and cuts it to the structure."""


@dataclass(frozen=True)
class Phase1Config:
    """fixed_network: with init_mode fixed, the network every structure is cut from (a
    shipped name or a path; empty: one seeded `max_width`-wide network per seed)."""

    max_width: int = 16
    depth: int = 3
    init_mode: str = "random"
    grid: Grid = field(default_factory=Grid)
    fixed_network: str = ""


@dataclass(frozen=True)
class Phase2Config:
    structure: tuple[int, ...] = (3, 3, 3)
    init_mode: str = "random"
    grid: Grid = field(default_factory=Grid)
    symmetry: Symmetry = "layer"
    max_masks: int = DEFAULT_MAX_MASKS
    fixed_width: int = 16
    nnz: tuple[int | None, ...] | None = None  # per masked layer; None: every nnz
    fixed_network: str = ""
