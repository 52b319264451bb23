"""The torch engine against the plain one-model reference loop (harness.training.reference)."""

import numpy as np
import torch

from harness.training.datasets import cubist_spiral
from harness.training.engines.base import SGDConfig, TrainState
from harness.training.engines.torch_engine import TorchEngine
from harness.training.evaluation import evaluate
from harness.training.population import Population
from harness.training.reference import build_mlp, train_reference
from harness.training.trainer import train

STEPS = 300


def _random_masks(sizes: tuple[int, ...], m: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    masks = [torch.rand(m, o, i, generator=g) < 0.7 for i, o in zip(sizes[:-1], sizes[1:])]
    masks[-1][:] = True
    return masks


def _run_steps(population: Population, steps: int) -> None:
    data = cubist_spiral()
    config = SGDConfig(epochs=2)
    engine = TorchEngine(data, config, torch.device("cpu"))
    state = TrainState.fresh(population)
    engine.import_state(state)
    from harness.training.data_order import epoch_orders
    from harness.training.schedules import epoch_learning_rates

    orders = epoch_orders(population.data_seed.numpy(), 0, data.points)
    lrs = epoch_learning_rates(population.lr.numpy(), population.schedule.numpy(), 0, 2)
    engine.run_steps(orders, 0, steps, lrs)
    engine.export_state(state)


def test_model_in_a_population_of_256_matches_the_reference_after_300_steps() -> None:
    sizes = (2, 16, 16, 16, 1)
    m = 257
    rng = np.random.default_rng(0)
    lrs = rng.choice([0.05, 0.1, 0.2], m).tolist()
    schedules = rng.choice(["cosine", "multistep", "constant"], m).tolist()
    masks = _random_masks(sizes, m, 1)
    population = Population.initialize(sizes, list(range(m)), lrs, schedules, weight_masks=masks)
    alone = population.select([7])
    _run_steps(population, STEPS)
    _run_steps(alone, STEPS)

    model = build_mlp(sizes, 7)
    train_reference(
        model,
        cubist_spiral(),
        lrs[7],
        schedules[7],
        SGDConfig(epochs=2),
        data_seed=7,
        masks=[mk[7] for mk in masks],
        max_steps=STEPS,
    )
    linears = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
    for layer, linear in enumerate(linears):
        for pop, k in ((population, 7), (alone, 0)):
            torch.testing.assert_close(
                pop.weights[layer][k], linear.weight.detach(), atol=1e-5, rtol=0
            )
            torch.testing.assert_close(
                pop.biases[layer][k], linear.bias.detach(), atol=1e-5, rtol=0
            )
        assert (population.weights[layer][7][~masks[layer][7]] == 0).all()


def test_diverging_models_are_flagged_and_the_rest_untouched() -> None:
    sizes = (2, 4, 4, 4, 1)
    data = cubist_spiral()
    config = SGDConfig(epochs=1)

    def run(seeds: list[int], lrs: list[float]) -> Population:
        population = Population.initialize(sizes, seeds, lrs, ["constant"] * len(lrs))
        train(
            TrainState.fresh(population),
            data,
            config,
            TorchEngine(data, config, torch.device("cpu")),
        )
        return population

    mixed = run([0, 1, 2, 3], [0.1, 50.0, 0.05, 80.0])
    clean = run([0, 2], [0.1, 0.05])
    result = evaluate(mixed, data)
    assert result.diverged.tolist() == [False, True, False, True]
    assert torch.isnan(result.loss[1]) or torch.isinf(result.loss[1])
    for a, b in zip(mixed.weights, clean.weights):
        torch.testing.assert_close(a[[0, 2]], b, atol=1e-6, rtol=0)
    assert not result.diverged[[0, 2]].any()


def test_cpu_scoring_matches_the_batched_torch_forward() -> None:
    from harness.training.evaluation import evaluate as score

    data = cubist_spiral()
    masks = _random_masks((2, 5, 4, 3, 1), 6, 2)
    population = Population.initialize(
        (2, 5, 4, 3, 1), list(range(6)), [0.1] * 6, ["cosine"] * 6, weight_masks=masks
    )
    _run_steps(population, 200)
    fast, plain = score(population, data, "numba"), score(population, data, "torch")
    torch.testing.assert_close(fast.accuracy, plain.accuracy, atol=2 / data.points, rtol=0)
    torch.testing.assert_close(fast.loss, plain.loss, atol=1e-5, rtol=1e-5)
    assert not fast.diverged.any()
