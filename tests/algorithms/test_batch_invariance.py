"""Batch invariance: a model's random draws, masks and re-initialised weights depend on that
model alone, never on its place in the population or on its companions."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from algorithms.grasp import Grasp
from algorithms.random_mask import RandomMask
from algorithms.rigl import RigL
from algorithms.snip import Snip
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession

SIZES = (2, 4, 4, 1)  # 28 weights
DATA = load_dataset("xor")
MODEL = (3, 4)  # (init seed, data seed) of the model followed
COMPANIONS = ((0, 0), (3, 9), (8, 4))  # one shares its init seed, one its data seed
TARGET = 10


def session_of(models: Sequence[tuple[int, int]], seed: int = 7) -> TrainingSession:
    m = len(models)
    population = Population.initialize(
        SIZES,
        [init for init, _ in models],
        [0.05 * (k + 1) for k in range(m)],
        ["cosine"] * m,
        data_seeds=[data for _, data in models],
    )
    return TrainingSession(population, DATA, SGDConfig(epochs=1), engine="torch", seed=seed)


def alone_and_together() -> tuple[TrainingSession, TrainingSession, int]:
    """The model alone, and third in a population with companions; its index there."""
    together = session_of([COMPANIONS[0], COMPANIONS[1], MODEL, COMPANIONS[2]])
    return session_of([MODEL]), together, 2


TARGETS_TOGETHER = torch.tensor([5, 20, TARGET, 13])


def test_draws_are_per_model_and_per_call() -> None:
    alone, together, k = alone_and_together()
    uniform_alone, uniform = alone.draw((4, 2)), together.draw((4, 2))
    normal_alone, normal = (
        alone.draw((1, 4), True, torch.float32),
        together.draw((1, 4), True, torch.float32),
    )
    assert uniform.shape == (4, 4, 2) and uniform.dtype == torch.float64
    assert normal.shape == (4, 1, 4) and normal.dtype == torch.float32
    assert ((uniform >= 0) & (uniform < 1)).all() and (normal < 0).any()
    for a, t in [(uniform_alone, uniform), (normal_alone, normal)]:
        assert torch.equal(a[0], t[k])
        assert len({tuple(row.flatten().tolist()) for row in t}) == 4  # companions differ
    fresh = session_of([MODEL])
    assert torch.equal(fresh.draw((4, 2)), uniform_alone)  # same seeds, same first call
    assert not torch.equal(fresh.draw((4, 2)), uniform_alone)  # the next call: new numbers
    assert not torch.equal(session_of([MODEL], seed=8).draw((4, 2)), uniform_alone)


@pytest.mark.parametrize("algorithm", [Snip, Grasp], ids=["snip", "grasp"])
def test_xavier_reinit_and_masks_do_not_depend_on_companions(algorithm) -> None:  # type: ignore[no-untyped-def]
    alone, together, k = alone_and_together()
    masks_alone = algorithm().masks(alone, torch.tensor([TARGET]))
    masks_together = algorithm().masks(together, TARGETS_TOGETHER)
    for a, t in zip(alone.population.weights, together.population.weights, strict=True):
        assert torch.equal(a[0], t[k])
    for a, t in zip(masks_alone, masks_together, strict=True):
        assert torch.equal(a[0], t[k])


@pytest.mark.parametrize(
    "algorithm", [RandomMask, RigL, Snip, Grasp], ids=["random", "rigl", "snip", "grasp"]
)
def test_a_runs_mask_does_not_depend_on_companions(algorithm) -> None:  # type: ignore[no-untyped-def]
    alone, together, k = alone_and_together()
    algorithm().run(alone, torch.tensor([TARGET]))
    algorithm().run(together, TARGETS_TOGETHER)
    assert together.population.weight_nnz().tolist() == TARGETS_TOGETHER.tolist()
    for a, t in zip(alone.population.weight_masks, together.population.weight_masks, strict=True):
        assert torch.equal(a[0], t[k])
