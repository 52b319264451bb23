"""Random pruning at init: exact, uniform, only among kept weights, seeded by the session."""

from __future__ import annotations

import torch

from algorithms.random_mask import RandomMask, random_masks
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession
from tests.algorithms.test_snip import seeded_draw

SIZES = (2, 4, 4, 4, 1)


def test_mask_is_the_plain_top_k_of_the_draws() -> None:
    population = Population.initialize(SIZES, [0, 1, 2], [0.1] * 3, ["cosine"] * 3)
    population.weight_masks[1][0, :2] = False  # model 0 lost 8 weights already
    population.apply_masks()
    target = torch.tensor([4, 20, 43])
    masks = random_masks(population, target, seeded_draw(3, 9))
    again = seeded_draw(3, 9)
    draws = [again(w.shape[1:]) for w in population.weights]
    for k in range(3):
        flat = torch.cat([d[k].flatten() for d in draws]).tolist()
        kept = torch.cat([m[k].flatten() for m in population.weight_masks]).tolist()
        ranked = sorted((i for i in range(len(flat)) if kept[i]), key=lambda i: (-flat[i], i))
        want = torch.zeros(len(flat), dtype=torch.bool)
        want[ranked[: int(target[k])]] = True
        assert torch.equal(torch.cat([m[k].flatten() for m in masks]), want)
    assert not (masks[1][0, :2]).any()


def test_every_weight_is_equally_likely_under_the_sessions_per_model_draws() -> None:
    m, keep = 4000, 11
    population = Population.initialize(SIZES, list(range(m)), [0.1] * m, ["cosine"] * m)
    session = TrainingSession(population, load_dataset("xor"), SGDConfig(epochs=1), seed=5)
    masks = random_masks(population, torch.full((m,), keep), session.draw)
    frequency = torch.cat([mask.flatten(1) for mask in masks], 1).float().mean(0)
    assert torch.allclose(frequency, torch.full_like(frequency, keep / 44), atol=0.03)
    assert (torch.cat([mask.flatten(1) for mask in masks], 1).sum(1) == keep).all()


def test_run_prunes_once_then_trains_with_the_mask_fixed() -> None:
    data = load_dataset("xor")
    population = Population.initialize(SIZES, [0, 1], [0.1, 0.1], ["cosine"] * 2)
    session = TrainingSession(population, data, SGDConfig(epochs=1), engine="torch", seed=4)
    fresh = TrainingSession(population.clone(), data, SGDConfig(epochs=1), seed=4)
    expected = random_masks(fresh.population, torch.tensor([6, 30]), fresh.draw)
    RandomMask().run(session, torch.tensor([6, 30]))
    for got, want in zip(population.weight_masks, expected, strict=True):
        assert torch.equal(got, want)
    assert population.weight_nnz().tolist() == [6, 30]
