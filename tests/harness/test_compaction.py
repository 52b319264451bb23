"""Compacted training (harness.training.engines.compacted) is masked dense training, bit for
bit: every algorithm, at widths 16, 64 and 256, 300 optimiser steps (20 epochs of a
1,983-point spiral), trained once on each model's live sub-network (`always`) and once
on its dense masked network in the same kernel (`reference`)."""

from __future__ import annotations

import pytest
import torch

from algorithms.registry import ALGORITHMS
from harness.training.datasets import cubist_spiral
from harness.training.engines.base import SGDConfig, TrainState
from harness.training.engines.compacted import CompactedEngine
from harness.training.engines.live import live_edge_counts, live_neurons, sparse_lists
from harness.training.engines.numba_engine import NumbaEngine
from harness.training.population import Population
from harness.training.session import TrainingSession
from harness.training.trainer import train

DATA = cubist_spiral(points_per_arm=1000)  # 15 steps an epoch
TARGETS = (40, 65)


def _session(width: int, models: int, compaction: str, epochs: int) -> TrainingSession:
    population = Population.initialize(
        (2, width, width, width, 1),
        [3 + k for k in range(models)],
        [0.1, 0.2][:models],
        ["cosine", "multistep"][:models],
    )
    return TrainingSession(
        population, DATA, SGDConfig(epochs=epochs), seed=5, compaction=compaction
    )


def _parameters(population: Population) -> list[torch.Tensor]:
    return [*population.weights, *population.biases]


CASES = [
    pytest.param(name, width, id=f"{name}-w{width}")
    for width in (16, 64, 256)
    for name in ALGORITHMS
]


@pytest.mark.parametrize(("name", "width"), CASES)
def test_compacted_training_is_masked_dense_training_bit_for_bit(name: str, width: int) -> None:
    models = 1 if width == 256 else 2
    # 300 steps in all: the lottery ticket and LRR train 5 times, magnitude-after twice.
    epochs = {"lth": 4, "lrr": 4, "magnitude-after": 10}.get(name, 20)
    algorithm = ALGORITHMS[name]
    results = []
    for mode in ("always", "reference"):
        session = _session(width, models, mode, epochs)
        before = [t.clone() for t in _parameters(session.population)]
        algorithm(algorithm.Params()).run(session, torch.tensor(TARGETS[:models]))
        results.append(session.population)
        assert session.population.weight_nnz().tolist() == list(TARGETS[:models])
    compacted, dense = results
    for a, b in zip(compacted.weight_masks, dense.weight_masks, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(_parameters(compacted), _parameters(dense), strict=True):
        assert torch.equal(a, b)
    moved = any(not torch.equal(a, b) for a, b in zip(before, _parameters(compacted)))
    assert moved  # it trained


def _hand_built() -> Population:
    """One 2-3-3-1 model: hidden-1 neuron 0 feeds hidden-2 neuron 1 (live, to the output);
    hidden-1 neuron 2 has an input weight but no outgoing one (dead, its weight decays);
    hidden-2 neuron 2 has no input but a bias and an outgoing weight (a constant, live);
    hidden-2 neuron 0 has an input but no outgoing weight (dead)."""
    sizes = (2, 3, 3, 1)
    masks = [torch.zeros(1, o, i, dtype=torch.bool) for i, o in zip(sizes[:-1], sizes[1:])]
    masks[0][0, 0, 0] = masks[0][0, 0, 1] = masks[0][0, 2, 1] = True
    masks[1][0, 1, 0] = masks[1][0, 0, 0] = True
    masks[2][0, 0, 1] = masks[2][0, 0, 2] = True
    return Population.initialize(sizes, [7], [0.1], ["cosine"], weight_masks=masks)


def test_live_neurons_reach_the_output_and_constants_count() -> None:
    population = _hand_built()
    live = live_neurons(population.weight_masks)
    assert live[0][0].tolist() == [True, False, False]
    assert live[1][0].tolist() == [False, True, True]
    assert live_edge_counts(population.weight_masks).tolist() == [5]  # 2 + 1 + 2
    lists = sparse_lists(population.weight_masks)
    # kept weights (7) and kept biases (hidden-1 neurons 0; hidden-2 neurons 1, 2; output)
    assert int(lists.n_params[0]) == 7 + 4
    assert int(lists.edges[0]) == 5


def test_weights_off_every_path_still_decay_as_in_dense_training() -> None:
    config = SGDConfig(epochs=3)
    results = []
    for mode in ("always", "reference"):
        population = _hand_built()
        engine = CompactedEngine(NumbaEngine(DATA, config), DATA, config, mode)
        start = population.weights[0][0, 2, 1].item()
        train(TrainState.fresh(population), DATA, config, engine)
        results.append(population)
    compacted, dense = results
    dead_weight = compacted.weights[0][0, 2, 1].item()
    assert 0 < abs(dead_weight) < abs(start)  # decayed, not frozen, not zeroed
    for a, b in zip(_parameters(compacted), _parameters(dense), strict=True):
        assert torch.equal(a, b)


def test_auto_sends_pruned_wide_models_to_the_sparse_kernel_and_keeps_dense_ones() -> None:
    """A population of two dense and two pruned width-64 models: `auto` trains the pruned
    ones sparse, the dense ones on the dense engine, each bitwise as it would alone."""
    config = SGDConfig(epochs=2)
    population = Population.initialize((2, 64, 64, 64, 1), [1, 2, 3, 4], [0.1] * 4, ["cosine"] * 4)
    keep = torch.zeros(4, dtype=torch.bool)
    keep[[1, 3]] = True
    generator = torch.Generator().manual_seed(0)
    for mask in population.weight_masks:
        sparse = torch.rand(mask.shape[1:], generator=generator) < 0.01
        mask[keep] = mask[keep] & sparse
    population.apply_masks()

    mixed = population.clone()
    engine = CompactedEngine(NumbaEngine(DATA, config), DATA, config, "auto")
    train(TrainState.fresh(mixed), DATA, config, engine)
    assert engine.sparse_models == 2

    dense_alone = population.select([0, 2])
    train(TrainState.fresh(dense_alone), DATA, config, NumbaEngine(DATA, config))
    sparse_alone = population.select([1, 3])
    always = CompactedEngine(NumbaEngine(DATA, config), DATA, config, "always")
    train(TrainState.fresh(sparse_alone), DATA, config, always)
    for rows, alone in (([0, 2], dense_alone), ([1, 3], sparse_alone)):
        for a, b in zip(_parameters(mixed), _parameters(alone), strict=True):
            assert torch.equal(a[rows], b)


def test_scoring_skips_pruned_weights_but_keeps_a_non_finite_activation_poisoning() -> None:
    """The CPU scorer skips zero weights (exact: they add zeros) unless the activation
    they would multiply is not finite, where 0 * inf = nan must still reach the output."""
    from harness.training.evaluation import evaluate

    population = _hand_built()
    healthy = evaluate(population, DATA)
    assert torch.isfinite(healthy.loss).all()
    poisoned = population.clone()
    poisoned.weights[0][0, 2, 1] = torch.finfo(torch.float32).max  # hidden-1 neuron 2 -> inf
    poisoned.biases[0][0, 2] = torch.finfo(torch.float32).max
    result = evaluate(poisoned, DATA)
    assert torch.isnan(result.loss).all()  # its zero outgoing weights multiply inf
