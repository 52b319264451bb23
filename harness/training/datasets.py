"""Datasets: the Cubist Spiral of the study and a few classic 2-D toys behind one registry.

Every dataset is deterministic, two features (standardised to zero mean and unit
standard deviation over all points) and binary labels 0/1 as float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Points `x` [N, 2] float32 (standardised) and labels `y` [N] float32 in {0, 1}."""

    name: str
    x: np.ndarray
    y: np.ndarray

    @property
    def points(self) -> int:
        return int(self.x.shape[0])

    @property
    def classes(self) -> int:
        return int(np.unique(self.y).size)


@dataclass(frozen=True)
class Split:
    """What a run trains on and what it is scored on (the same points unless held out)."""

    train: Dataset
    test: Dataset


def cubist_spiral_vertices() -> tuple[np.ndarray, np.ndarray]:
    """The 17 vertices of each arm (A, B), in raw (unstandardised) coordinates."""
    theta = np.linspace(math.pi, 5 * math.pi, 17) + 0.4 * math.pi
    radius = 10 * theta + math.pi
    direction = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    centre = radius[:, None] * direction
    return centre + 15 * direction, centre - 15 * direction


def _sample_polyline(vertices: np.ndarray, total: int) -> np.ndarray:
    """`total` points shared among segments by length, evenly spaced, both ends included."""
    lengths = np.linalg.norm(np.diff(vertices, axis=0), axis=1)
    counts = (total * lengths / lengths.sum()).astype(int)  # truncation, as the reference
    pieces = [np.linspace(vertices[i], vertices[i + 1], counts[i]) for i in range(len(lengths))]
    return np.concatenate(pieces)


def _standardise(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)


def _labelled(name: str, arm_a: np.ndarray, arm_b: np.ndarray) -> Dataset:
    x = np.concatenate([arm_a, arm_b])
    y = np.concatenate([np.zeros(len(arm_a)), np.ones(len(arm_b))]).astype(np.float32)
    return Dataset(name, _standardise(x), y)


def cubist_spiral(points_per_arm: int = 25_000) -> Dataset:
    """The study's dataset: two polyline arms, 49,982 points with the default size."""
    arm_a, arm_b = cubist_spiral_vertices()
    return _labelled(
        "cubist-spiral",
        _sample_polyline(arm_a, points_per_arm),
        _sample_polyline(arm_b, points_per_arm),
    )


def smooth_spiral(points_per_arm: int = 5_000) -> Dataset:
    """The classic smooth two-arm spiral (Lang & Witbrock style), noiseless."""
    theta = np.linspace(math.pi / 2, 4 * math.pi, points_per_arm)
    arm = np.stack([theta * np.cos(theta), theta * np.sin(theta)], axis=1)
    return _labelled("spiral", arm, -arm)


def two_moons(points_per_arm: int = 5_000) -> Dataset:
    """Two interleaved half circles, noiseless."""
    t = np.linspace(0, math.pi, points_per_arm)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    return _labelled("moons", upper, lower)


def circles(points_per_arm: int = 5_000) -> Dataset:
    """Two concentric circles, radii 1 and 0.5."""
    t = np.linspace(0, 2 * math.pi, points_per_arm, endpoint=False)
    ring = np.stack([np.cos(t), np.sin(t)], axis=1)
    return _labelled("circles", ring, 0.5 * ring)


def xor(points_per_side: int = 70) -> Dataset:
    """A grid on [-1, 1]^2 labelled by the sign of x0 * x1 (the zero lines left out)."""
    axis = np.linspace(-1, 1, points_per_side)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    grid = grid[(grid[:, 0] != 0) & (grid[:, 1] != 0)]
    positive = grid[:, 0] * grid[:, 1] > 0
    return _labelled("xor", grid[~positive], grid[positive])


DATASETS: dict[str, Callable[[], Dataset]] = {
    "cubist-spiral": cubist_spiral,
    "spiral": smooth_spiral,
    "moons": two_moons,
    "circles": circles,
    "xor": xor,
}


class UnknownDatasetError(ValueError):
    pass


def load_dataset(name: str = "cubist-spiral") -> Dataset:
    if name not in DATASETS:
        raise UnknownDatasetError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name]()


def load_split(name: str = "cubist-spiral", holdout: float = 0.0, seed: int = 0) -> Split:
    """Train on all points and score on the same ones (the study's default), or hold out
    a seeded random fraction `holdout` of the points for scoring."""
    data = load_dataset(name)
    if holdout == 0.0:
        return Split(data, data)
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    order = np.random.default_rng(seed).permutation(data.points)
    cut = round(data.points * (1 - holdout))
    train, test = np.sort(order[:cut]), np.sort(order[cut:])
    return Split(
        Dataset(data.name, data.x[train], data.y[train]),
        Dataset(data.name, data.x[test], data.y[test]),
    )
