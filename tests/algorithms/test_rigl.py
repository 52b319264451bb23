"""RigL against plain one-model references: ERK allocation, the initial mask, drop/grow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import pytest
import torch

from algorithms.base import StepCallback
from algorithms.rigl import (
    RigL,
    RigLParams,
    RigLUpdates,
    drop_and_grow,
    drop_fraction_at,
    erk_counts,
    initial_masks,
)
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession
from tests.algorithms.test_snip import seeded_draw


def shapes_of(hidden: Sequence[int]) -> list[tuple[int, int]]:
    sizes = (2, *hidden, 1)
    return [(o, i) for i, o in pairwise(sizes)]


def plain_erk(shapes: list[tuple[int, int]], target: int) -> list[int]:
    """RigL's ERK, one model: densities eps * (in + out) / (in * out); the layer with the
    highest raw density that would pass 1 is made dense, one at a time; then largest
    remainder rounding, ties to the lower layer."""
    dense: set[int] = set()
    while True:
        free = [layer for layer in range(len(shapes)) if layer not in dense]
        eps = (target - sum(shapes[layer][0] * shapes[layer][1] for layer in dense)) / sum(
            shapes[layer][0] + shapes[layer][1] for layer in free
        )
        over = [layer for layer in free if eps * sum(shapes[layer]) > math.prod(shapes[layer])]
        if not over:
            break
        dense.add(max(over, key=lambda layer: sum(shapes[layer]) / math.prod(shapes[layer])))
    alloc = [
        float(math.prod(s)) if layer in dense else eps * sum(s) for layer, s in enumerate(shapes)
    ]
    counts = [math.floor(a) for a in alloc]
    order = sorted(
        (layer for layer in range(len(shapes)) if layer not in dense),
        key=lambda layer: (-(alloc[layer] - counts[layer]), layer),
    )
    for layer in order[: target - sum(counts)]:
        counts[layer] += 1
    return counts


@pytest.mark.parametrize("hidden", [(3, 3, 3), (4, 4, 4), (5, 3, 4), (16, 16, 16), (256, 256, 256)])
def test_erk_counts_match_the_plain_allocation_and_sum_exactly(hidden: tuple[int, ...]) -> None:
    shapes = shapes_of(hidden)
    total = sum(o * i for o, i in shapes)
    targets = sorted(
        {t for t in [4, 5, 10, 15, 20, 26, 33, 44, 65, 100, total - 1, total] if t <= total}
    )
    capacity = torch.tensor([[o * i for o, i in shapes]] * len(targets))
    counts = erk_counts(shapes, capacity, torch.tensor(targets))
    for k, target in enumerate(targets):
        assert counts[k].tolist() == plain_erk(shapes, target)
        assert int(counts[k].sum()) == target
        assert all(0 <= c <= o * i for c, (o, i) in zip(counts[k].tolist(), shapes, strict=True))


def test_erk_keeps_the_tiny_input_layer_dense() -> None:
    shapes = shapes_of((3, 3, 3))  # 2->3 has density (2+3)/6 > 1 at eps = 26/...
    counts = erk_counts(shapes, torch.tensor([[6, 9, 9, 3]]), torch.tensor([26]))
    assert counts[0, 0] == 6 and counts[0, 3] == 3
    assert counts.sum() == 26


def test_initial_mask_is_a_uniform_draw_per_layer_from_the_draws() -> None:
    hidden = (5, 5, 5)
    population = Population.initialize((2, *hidden, 1), [0, 1, 2], [0.1] * 3, ["cosine"] * 3)
    target = torch.tensor([4, 17, 40])
    masks = initial_masks(population, target, seeded_draw(3, 11))
    again = seeded_draw(3, 11)
    draws = [again(w.shape[1:]) for w in population.weights]
    shapes = shapes_of(hidden)
    for k in range(3):
        counts = plain_erk(shapes, int(target[k]))
        for layer, draw in enumerate(draws):
            flat = draw[k].flatten().tolist()
            chosen = sorted(range(len(flat)), key=lambda i: (-flat[i], i))[: counts[layer]]
            want = torch.zeros(len(flat), dtype=torch.bool)
            want[chosen] = True
            assert torch.equal(masks[layer][k].flatten(), want)


def plain_drop_grow(
    w: torch.Tensor, mask: torch.Tensor, grad: torch.Tensor, fraction: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer of one model, from the paper: drop the floor(f n) smallest |w| of the n
    active weights, grow as many of the rest by largest |grad|; ties to the lower index."""
    a, g, active = (
        w.abs().flatten().tolist(),
        grad.abs().flatten().tolist(),
        mask.flatten().tolist(),
    )
    on = [i for i in range(len(a)) if active[i]]
    drop = math.floor(len(on) * fraction)
    kept = set(sorted(on, key=lambda i: (-a[i], i))[: len(on) - drop])
    grown = set(
        sorted((i for i in range(len(a)) if i not in kept), key=lambda i: (-g[i], i))[:drop]
    )
    new_mask = torch.tensor([i in kept or i in grown for i in range(len(a))]).reshape(mask.shape)
    new_conn = torch.tensor([i in grown and not active[i] for i in range(len(a))])
    return new_mask, new_conn.reshape(mask.shape)


@pytest.mark.parametrize("fraction", [0.3, 0.17, 0.0, 1.0])
def test_drop_and_grow_matches_the_plain_reference(fraction: float) -> None:
    gen = torch.Generator().manual_seed(5)
    shapes = [(4, 2, 3), (4, 5, 2), (4, 1, 5)]
    weights = [torch.randint(-3, 4, s, generator=gen).float() / 4 for s in shapes]  # ties
    grads = [torch.randint(-3, 4, s, generator=gen).float() for s in shapes]
    masks = [torch.rand(s, generator=gen) < 0.6 for s in shapes]
    new_masks, new_conn = drop_and_grow(weights, masks, grads, fraction)
    for layer in range(3):
        assert torch.equal(new_masks[layer].sum((1, 2)), masks[layer].sum((1, 2)))
        for k in range(4):
            want_mask, want_new = plain_drop_grow(
                weights[layer][k], masks[layer][k], grads[layer][k], fraction
            )
            assert torch.equal(new_masks[layer][k], want_mask)
            assert torch.equal(new_conn[layer][k], want_new)


def test_update_steps_and_cosine_decay() -> None:
    updates = RigLUpdates(RigLParams())
    steps = updates.event_steps(19_500, 390)
    assert steps[0] == 100 and steps[-1] == 14_600 and updates.end_step == 14_625
    assert all(b - a == 100 for a, b in pairwise(steps))
    assert drop_fraction_at(0, 1000, 0.3) == pytest.approx(0.3)
    assert drop_fraction_at(500, 1000, 0.3) == pytest.approx(0.15)
    assert drop_fraction_at(1000, 1000, 0.3) == pytest.approx(0.0)


class Watch(StepCallback):
    def __init__(self, steps: Sequence[int], log: list) -> None:
        self.steps, self.log = steps, log

    def event_steps(self, total_steps: int, steps_per_epoch: int) -> Sequence[int]:
        return self.steps

    def on_event(self, state, session) -> None:  # type: ignore[no-untyped-def]
        pop = state.population
        self.log.append(
            (
                [m.clone() for m in pop.weight_masks],
                [w.clone() for w in pop.weights],
                [v.clone() for v in state.weight_momentum],
            )
        )


class WatchedSession(TrainingSession):
    """Runs a watcher before and after every RigL update."""

    def train(self, callbacks: Sequence[StepCallback] = (), epochs: int | None = None) -> None:
        steps = callbacks[0].event_steps(
            (epochs or self.epochs) * self.steps_per_epoch, self.steps_per_epoch
        )
        self.before: list = []
        self.after: list = []
        super().train([Watch(steps, self.before), *callbacks, Watch(steps, self.after)], epochs)


def test_full_run_keeps_layer_counts_zeroes_regrown_weights_and_freezes() -> None:
    data = load_dataset("xor")  # 38 steps per epoch
    population = Population.initialize((2, 5, 5, 5, 1), [0, 1, 2], [0.1, 0.2, 0.05], ["cosine"] * 3)
    session = WatchedSession(population, data, SGDConfig(epochs=4), engine="torch", seed=3)
    target = torch.tensor([6, 20, 45])
    RigL(RigLParams(update_interval=10)).run(session, target)
    assert len(session.before) == len(range(10, int(0.75 * 152), 10)) == 11
    expected = erk_counts(
        [(w.shape[1], w.shape[2]) for w in population.weights],
        torch.tensor([[10, 25, 25, 5]] * 3),
        target,
    )
    changed = 0
    for (m0, _, _), (m1, w1, v1) in zip(session.before, session.after, strict=True):
        for layer in range(4):
            assert torch.equal(m1[layer].flatten(1).sum(1), expected[:, layer])
            grown = m1[layer] & ~m0[layer]
            assert (w1[layer][grown] == 0).all() and (v1[layer][grown] == 0).all()
            changed += int(grown.sum())
    assert changed > 0
    last_masks = session.after[-1][0]
    for layer in range(4):
        assert torch.equal(population.weight_masks[layer], last_masks[layer])
    assert population.weight_nnz().tolist() == target.tolist()
