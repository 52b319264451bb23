import math

import numpy as np
import pytest

from harness.training.datasets import (
    DATASETS,
    UnknownDatasetError,
    cubist_spiral,
    cubist_spiral_vertices,
    load_dataset,
    load_split,
)


def test_cubist_spiral_has_the_reference_point_count_and_balance() -> None:
    data = cubist_spiral()
    assert data.points == 49_982
    assert data.x.shape == (49_982, 2) and data.x.dtype == np.float32
    assert (data.y == 0).sum() == (data.y == 1).sum() == 24_991


def test_cubist_spiral_is_standardised_and_deterministic() -> None:
    data = cubist_spiral()
    np.testing.assert_allclose(data.x.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.x.std(axis=0), 1, atol=1e-5)
    again = cubist_spiral()
    assert np.array_equal(data.x, again.x) and np.array_equal(data.y, again.y)


def test_vertices_follow_the_protocol() -> None:
    arm_a, arm_b = cubist_spiral_vertices()
    assert arm_a.shape == arm_b.shape == (17, 2)
    theta = np.linspace(math.pi, 5 * math.pi, 17) + 0.4 * math.pi
    centre = (10 * theta + math.pi)[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1)
    np.testing.assert_allclose((arm_a + arm_b) / 2, centre)
    np.testing.assert_allclose(np.linalg.norm(arm_a - centre, axis=1), 15)


def _distance_to_polyline(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    best = np.full(len(points), np.inf)
    for a, b in zip(vertices[:-1], vertices[1:]):
        t = np.clip(((points - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
        best = np.minimum(best, np.linalg.norm(points - (a + t[:, None] * (b - a)), axis=1))
    return best


def test_every_point_lies_on_its_arms_polyline() -> None:
    data = cubist_spiral()
    arm_a, arm_b = cubist_spiral_vertices()
    raw = np.concatenate([arm_a, arm_b])
    # Undo the standardisation using the raw point cloud's statistics.
    raw_points = np.concatenate(
        [
            _sample(arm_a),
            _sample(arm_b),
        ]
    )
    mean, std = raw_points.mean(0), raw_points.std(0)
    points = data.x.astype(np.float64) * std + mean
    scale = np.abs(raw).max()
    on_a = _distance_to_polyline(points[data.y == 0], arm_a)
    on_b = _distance_to_polyline(points[data.y == 1], arm_b)
    assert on_a.max() < 1e-5 * scale and on_b.max() < 1e-5 * scale


def _sample(vertices: np.ndarray) -> np.ndarray:
    from harness.training.datasets import _sample_polyline

    return _sample_polyline(vertices, 25_000)


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_dataset_is_binary_standardised_float32(name: str) -> None:
    data = load_dataset(name)
    assert data.classes == 2
    assert data.x.dtype == np.float32 and data.y.dtype == np.float32
    np.testing.assert_allclose(data.x.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(data.x.std(axis=0), 1, atol=1e-4)


def test_unknown_dataset_names_the_valid_ones() -> None:
    with pytest.raises(UnknownDatasetError, match="cubist-spiral"):
        load_dataset("nope")


def test_holdout_split_partitions_the_points() -> None:
    split = load_split("moons", holdout=0.25, seed=3)
    assert split.train.points + split.test.points == 10_000
    assert split.test.points == 2_500
    whole = load_split("moons")
    assert whole.train.points == whole.test.points == 10_000
