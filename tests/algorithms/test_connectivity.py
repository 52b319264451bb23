"""Connectivity on hand-built masks, and against a brute-force enumeration of paths."""

from __future__ import annotations

import itertools

import pytest
import torch

from algorithms.connectivity import check_targets, connectivity, path_minimum, total_weights
from harness.training.population import derive_bias_masks


def masks_from(rows: list[list[list[int]]]) -> list[torch.Tensor]:
    return [torch.tensor(r, dtype=torch.bool).unsqueeze(0) for r in rows]


# 2 -> 3 -> 3 -> 3 -> 1, hidden neurons h0..h2, n0..n2, m0..m2.
ONE_PATH_AND_DEBRIS = [
    [[1, 0], [0, 0], [0, 1]],  # h0 <- x0; h1 gets nothing; h2 <- x1
    [[1, 0, 0], [0, 1, 0], [0, 1, 1]],  # n0 <- h0; n1 <- h1; n2 <- h1, h2
    [[1, 0, 0], [0, 1, 0], [0, 0, 1]],  # m0 <- n0; m1 <- n1; m2 <- n2
    [[1, 1, 0]],  # out <- m0, m1 (m2 leads nowhere)
]


def test_hand_built_masks() -> None:
    masks = masks_from(ONE_PATH_AND_DEBRIS)
    result = connectivity(masks)
    assert result.weight_nnz.tolist() == [11]
    assert result.effective_nnz.tolist() == [4]  # x0 -> h0 -> n0 -> m0 -> out
    assert result.disconnected.tolist() == [7]
    assert result.dead_neurons.tolist() == [[2, 2, 2]]
    assert [e[0].nonzero().tolist() for e in result.effective_masks] == [
        [[0, 0]],
        [[0, 0]],
        [[0, 0]],
        [[0, 0]],
    ]


def test_a_biased_neuron_without_inputs_is_a_constant_and_its_weights_disconnected() -> None:
    masks = masks_from(ONE_PATH_AND_DEBRIS)
    # h1 keeps its bias (it has outgoing weights) but no weight reaches it from an input,
    assert bool(derive_bias_masks(masks)[0][0, 1])
    # so its outgoing weights n1 <- h1 and n2 <- h1 fold into biases: not effective.
    effective = connectivity(masks).effective_masks[1][0]
    assert not effective[1, 1] and not effective[2, 1]


def test_dense_and_empty_networks() -> None:
    dense = [torch.ones(2, o, i, dtype=torch.bool) for i, o in [(2, 3), (3, 3), (3, 3), (3, 1)]]
    dense[3][1] = False  # model 1: no output weight at all
    result = connectivity(dense)
    assert result.effective_nnz.tolist() == [27, 0]
    assert result.disconnected.tolist() == [0, 24]
    assert result.dead_neurons.tolist() == [[0, 0, 0], [3, 3, 3]]


def brute_force_effective(masks: list[torch.Tensor], k: int) -> set[tuple[int, int, int]]:
    """Every (layer, out, in) on some input-output path, by enumerating all paths."""
    sizes = [masks[0].shape[2]] + [m.shape[1] for m in masks]
    on_path: set[tuple[int, int, int]] = set()
    for path in itertools.product(*(range(s) for s in sizes)):
        edges = [(layer, path[layer + 1], path[layer]) for layer in range(len(masks))]
        if all(bool(masks[l_][k, o, i]) for l_, o, i in edges):
            on_path.update(edges)
    return on_path


def test_matches_a_brute_force_path_enumeration() -> None:
    g = torch.Generator().manual_seed(0)
    shapes = [(4, 2), (3, 4), (4, 3), (1, 4)]
    m = 40
    masks = [torch.rand(m, o, i, generator=g) < 0.45 for o, i in shapes]
    result = connectivity(masks)
    for k in range(m):
        got = {
            (layer, o, i)
            for layer, e in enumerate(result.effective_masks)
            for o, i in e[k].nonzero().tolist()
        }
        assert got == brute_force_effective(masks, k)
        # a hidden neuron on a path has its incoming edge on that path
        dead = [shapes[h][0] - len({o for layer, o, _ in got if layer == h}) for h in range(3)]
        assert result.dead_neurons[k].tolist() == dead


def test_budget_limits() -> None:
    sizes = (2, 3, 3, 3, 1)
    assert path_minimum(sizes) == 4 and total_weights(sizes) == 27
    kept = torch.tensor([27, 27])
    assert check_targets(kept, torch.tensor([4, 27]), 4).tolist() == [4, 27]
    with pytest.raises(ValueError, match="input-output path"):
        check_targets(kept, torch.tensor([3, 10]), 4)
    with pytest.raises(ValueError, match="exceeds"):
        check_targets(kept, torch.tensor([10, 28]), 4)
    with pytest.raises(ValueError, match="one target per model"):
        check_targets(kept, torch.tensor([10]), 4)
