"""FORCE against a plain one-model reference, step by step, plus exact budgets."""

from __future__ import annotations

import pytest
import torch

from algorithms.force import Force, ForceParams
from algorithms.iter_snip import skeleton_masks
from algorithms.scoring import exponential_schedule, progressive_skeletonization, step_batches
from tests.algorithms.test_iter_snip import compare_steps
from tests.algorithms.test_snip import check_run, make_session


@pytest.mark.parametrize("fresh", [True, False])
def test_every_step_matches_the_plain_reference(fresh: bool) -> None:
    compare_steps(revive=True, fresh=fresh, targets=[4, 11, 25])


def test_scores_use_the_initial_weights_and_may_revive() -> None:
    """Pruned weights keep a score |w0 * g| (the pruned network's gradient), so over a
    few seeds some weight dropped at one step returns at a later one."""
    revived = 0
    for seed in range(4):
        session = make_session(seeds=(seed, seed + 10, seed + 20))
        population = session.population
        schedule = exponential_schedule(population.weight_nnz(), torch.tensor([4, 6, 8]), 10)
        batches = step_batches(session, 10, True)
        previous = population.weight_masks
        for scores, masks in progressive_skeletonization(
            population.weights, population.biases, previous, batches, schedule, revive=True
        ):
            for s, now, before in zip(scores, masks, previous, strict=True):
                revived += int((now & ~before).sum())
                assert (s[~before] >= 0).all()
            previous = masks
    assert revived > 0


def test_run_applies_the_final_step_and_keeps_exact_budgets() -> None:
    targets = [4, 9, 20, 43]
    expected = skeleton_masks(
        make_session(seeds=(0, 1, 2, 3)), torch.tensor(targets), 10, True, True
    )
    session = make_session(seeds=(0, 1, 2, 3))
    check_run(Force(), targets, session)
    for got, want in zip(session.population.weight_masks, expected, strict=True):
        assert torch.equal(got, want)


def test_padded_models_stay_within_their_own_weights() -> None:
    active = [(2, 3, 3, 3, 1), (2, 4, 2, 4, 1), (2, 4, 4, 4, 1)]
    session = make_session(active=active)
    check_run(Force(ForceParams(steps=5)), [4, 14, 40], session)
