"""Learning-rate schedules, stepped once per epoch, as closed-form factors of the base lr.

These match torch's CosineAnnealingLR(T_max=epochs, eta_min=0), MultiStepLR(milestones
at 30% and 60% of the epochs, gamma 0.1) and a constant lr (tested against torch).
"""

from __future__ import annotations

import math

import numpy as np

SCHEDULES: tuple[str, ...] = ("cosine", "multistep", "constant")
"""The schedule names; a population stores each model's as an index into this tuple."""


def multistep_milestones(epochs: int) -> tuple[int, int]:
    return int(0.3 * epochs), int(0.6 * epochs)


def lr_factor(schedule: str, epoch: int, epochs: int) -> float:
    """Multiplier of the base learning rate during `epoch` (0-based)."""
    if schedule == "cosine":
        return (1 + math.cos(math.pi * epoch / epochs)) / 2
    if schedule == "multistep":
        first, second = multistep_milestones(epochs)
        return 0.1 ** ((epoch >= first) + (epoch >= second))
    if schedule == "constant":
        return 1.0
    raise ValueError(f"unknown schedule {schedule!r}")


def epoch_learning_rates(
    base_lr: np.ndarray, schedule_codes: np.ndarray, epoch: int, epochs: int
) -> np.ndarray:
    """Per-model learning rates for one epoch, float32 [M] (torch applies lr in float32)."""
    factors = np.array([lr_factor(name, epoch, epochs) for name in SCHEDULES])
    return (np.asarray(base_lr, dtype=np.float64) * factors[schedule_codes]).astype(np.float32)
