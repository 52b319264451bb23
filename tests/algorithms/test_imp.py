"""Gradual magnitude pruning (IMP) against its definition, one plain model at a time."""

from __future__ import annotations

from itertools import pairwise

import torch

from algorithms.imp import (
    GradualMagnitude,
    GradualMagnitudeParams,
    GradualPruning,
    event_schedule,
    weights_left,
)
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig, TrainState
from harness.training.population import Population
from harness.training.session import TrainingSession
from tests.algorithms.test_magnitude_after import (
    PlainModel,
    plain_magnitude_mask,
    plain_train,
)

SIZES = (2, 4, 4, 4, 1)


def plain_schedule(total_steps: int, events: int) -> list[tuple[int, float]]:
    """Definition: E events split T steps into E + 1 equal parts; event i has t = i / E."""
    out: dict[int, float] = {}
    for i in range(1, events + 1):
        out[(i * total_steps) // (events + 1)] = i / events
    return sorted(out.items())


def plain_left(n_start: int, n_final: int, t: float) -> int:
    return n_final + int((n_start - n_final) * (1 - t) ** 3 // 1)


def test_schedule_is_even_cubic_and_ends_exactly_at_the_target() -> None:
    steps = event_schedule(19_500, 200)
    assert len(steps) == 200
    gaps = {b - a for a, b in pairwise(sorted(steps))}
    assert gaps <= {97, 98}
    assert sorted(steps)[-1] < 19_500 - 90  # the last part fine-tunes the final mask
    assert [(s, i / 200) for s, i in sorted(steps.items())] == plain_schedule(19_500, 200)
    n_start = torch.tensor([560, 560, 44, 27])
    n_final = torch.tensor([15, 65, 4, 26])
    for _, t in plain_schedule(19_500, 200):
        got = weights_left(n_start, n_final, t)
        want = [plain_left(int(a), int(b), t) for a, b in zip(n_start, n_final, strict=True)]
        assert got.tolist() == want
    assert weights_left(n_start, n_final, 1.0).tolist() == n_final.tolist()
    # fewer steps than events: events merge, the last one still reaches t = 1
    short = event_schedule(30, 200)
    assert max(short.values()) == 200 and len(short) == 30


def test_one_event_keeps_the_plain_top_k_among_kept_weights() -> None:
    g = torch.Generator().manual_seed(1)
    population = Population.initialize(SIZES, [0, 1, 2, 3], [0.1] * 4, ["cosine"] * 4)
    for w, m in zip(population.weights, population.weight_masks, strict=True):
        w.copy_(torch.randint(-4, 5, w.shape, generator=g).float() / 8)  # ties
        m &= torch.rand(m.shape, generator=g) < 0.9
    population.apply_masks()
    n_start = torch.tensor([44, 44, 44, 44])
    target = torch.tensor([4, 9, 20, 30])
    callback = GradualPruning(n_start, target, events=10, exponent=3.0)
    schedule = dict(plain_schedule(100, 10))
    steps = callback.event_steps(100, 10)
    assert list(steps) == sorted(schedule)
    before = [PlainModel(population, k) for k in range(4)]
    state = TrainState.fresh(population)
    state.step = steps[3]
    callback.on_event(state, None)  # type: ignore[arg-type]
    for k, model in enumerate(before):
        keep = plain_left(44, int(target[k]), schedule[steps[3]])
        want = plain_magnitude_mask(model.weights, model.masks, keep)
        for layer, mask in enumerate(want):
            assert torch.equal(population.weight_masks[layer][k], mask)
            assert (population.weights[layer][k][~mask] == 0).all()


def test_batched_run_matches_the_plain_reference() -> None:
    data = load_dataset("xor")
    epochs, events = 3, 25
    lrs, schedules, targets = [0.1, 0.2, 0.05], ["cosine", "constant", "multistep"], [4, 10, 25]
    population = Population.initialize(SIZES, [7, 8, 9], lrs, schedules)
    references = [PlainModel(population, k) for k in range(3)]
    session = TrainingSession(population, data, SGDConfig(epochs=epochs), engine="torch")
    GradualMagnitude(GradualMagnitudeParams(pruning_events=events)).run(
        session, torch.tensor(targets)
    )
    total = epochs * (data.points // 128)
    schedule = dict(plain_schedule(total, events))
    for k, model in enumerate(references):

        def prune(step, weights, masks, optimizer, k=k, model=model):  # type: ignore[no-untyped-def]
            if step in schedule:
                keep = plain_left(44, targets[k], schedule[step])
                model.masks = plain_magnitude_mask(weights, masks, keep)

        plain_train(model, data, lrs[k], schedules[k], epochs, data_seed=7 + k, hook=prune)
        for layer in range(4):
            assert torch.equal(population.weight_masks[layer][k], model.masks[layer])
            torch.testing.assert_close(
                population.weights[layer][k], model.weights[layer].detach(), atol=2e-5, rtol=0
            )
    assert population.weight_nnz().tolist() == targets


def test_never_revives_a_pruned_weight() -> None:
    data = load_dataset("xor")
    population = Population.initialize(SIZES, [0, 1], [0.1, 0.1], ["cosine"] * 2)
    history: list[list[torch.Tensor]] = []

    class Recorder(GradualPruning):
        def on_event(self, state, session):  # type: ignore[no-untyped-def]
            super().on_event(state, session)
            history.append([m.clone() for m in state.population.weight_masks])

    recorder = Recorder(population.weight_nnz(), torch.tensor([5, 12]), 30, 3.0)
    session = TrainingSession(population, data, SGDConfig(epochs=2), engine="torch")
    session.train(callbacks=[recorder])
    assert len(history) == 30
    for before, after in pairwise(history):
        for a, b in zip(before, after, strict=True):
            assert not (b & ~a).any()
    assert population.weight_nnz().tolist() == [5, 12]
