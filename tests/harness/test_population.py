import torch

from harness.training.population import Population, default_linear_init, derive_bias_masks
from harness.training.reference import build_mlp


def test_init_is_bitwise_nn_linear_under_manual_seed() -> None:
    sizes = (2, 5, 4, 3, 1)
    population = Population.initialize(sizes, [11, 12], [0.1, 0.1], ["cosine", "constant"])
    for k, seed in enumerate([11, 12]):
        linears = [m for m in build_mlp(sizes, seed) if isinstance(m, torch.nn.Linear)]
        for layer, linear in enumerate(linears):
            assert torch.equal(population.weights[layer][k], linear.weight)
            assert torch.equal(population.biases[layer][k], linear.bias)


def test_padded_model_is_initialised_as_the_small_one_and_masked() -> None:
    population = Population.initialize(
        (2, 6, 6, 1), [5], [0.1], ["cosine"], active_sizes=[(2, 3, 2, 1)]
    )
    weights, _ = default_linear_init((2, 3, 2, 1), 5)
    assert torch.equal(population.weights[0][0, :3, :2], weights[0])
    assert torch.equal(population.weights[1][0, :2, :3], weights[1])
    assert population.weights[0][0, 3:].abs().sum() == 0
    assert population.biases[0][0, 3:].abs().sum() == 0
    assert int(population.weight_nnz()[0]) == 2 * 3 + 3 * 2 + 2
    assert int(population.model_nnz()[0]) == 2 * 3 + 3 * 2 + 2 + 3 + 2 + 1


def test_bias_kept_only_with_an_outgoing_weight() -> None:
    first = torch.ones(1, 3, 2, dtype=torch.bool)
    second = torch.tensor([[[1, 0, 0], [1, 0, 0]]], dtype=torch.bool)
    out = torch.tensor([[[0, 1]]], dtype=torch.bool)
    masks = derive_bias_masks([first, second, out])
    assert masks[0].tolist() == [[True, False, False]]
    assert masks[1].tolist() == [[False, True]]
    assert masks[2].tolist() == [[True]]


def test_select_and_concat_round_trip() -> None:
    population = Population.initialize((2, 3, 1), [1, 2, 3], [0.1] * 3, ["cosine"] * 3)
    parts = [population.select([0]), population.select([1, 2])]
    joined = Population.concat(parts)
    for a, b in zip(joined.weights, population.weights):
        assert torch.equal(a, b)
    assert joined.init_seed.tolist() == [1, 2, 3]
