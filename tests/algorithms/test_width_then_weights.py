"""Width then weights against plain one-model references: the neuron pruning rule, the
best-of-trainings selection, exact and fully effective budgets, batch invariance."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
import torch

from algorithms.base import StepCallback
from algorithms.connectivity import connectivity, live_neurons
from algorithms.width_then_weights import (
    WidthThenWeights,
    WidthThenWeightsParams,
    dense_count,
    prune_neurons,
)
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession

SIZES = (2, 5, 4, 3, 1)  # 10 + 20 + 12 + 3 = 45 weights
DATA = load_dataset("xor")
FAST = WidthThenWeightsParams(candidates=2, restarts=1, events=5)


def plain_prune_neurons(
    weights: Sequence[torch.Tensor], sizes: Sequence[int], budget: int
) -> list[list[bool]]:
    """One model, the rule spelt out: while some hidden neuron can go without the dense
    count falling below `budget` (never a layer's last), remove the one with the smallest
    |incoming| x |outgoing| (ties: lower layer, then lower index), recomputing after each."""
    alive = [[True] * n for n in sizes]

    def count() -> int:
        return sum(sum(alive[k + 1]) * sum(alive[k]) for k in range(len(sizes) - 1))

    while True:
        best: tuple[float, int, int] | None = None
        for layer in range(1, len(sizes) - 1):
            if sum(alive[layer]) == 1:
                continue
            for h in range(sizes[layer]):
                if not alive[layer][h]:
                    continue
                fan_in, fan_out = sum(alive[layer - 1]), sum(alive[layer + 1])
                if count() - fan_in - fan_out < budget:
                    continue
                incoming = math.sqrt(
                    sum(
                        float(weights[layer - 1][h, s]) ** 2
                        for s in range(sizes[layer - 1])
                        if alive[layer - 1][s]
                    )
                )
                outgoing = math.sqrt(
                    sum(
                        float(weights[layer][t, h]) ** 2
                        for t in range(sizes[layer + 1])
                        if alive[layer + 1][t]
                    )
                )
                score = incoming * outgoing
                if best is None or score < best[0]:
                    best = (score, layer, h)
        if best is None:
            return alive
        alive[best[1]][best[2]] = False


@pytest.mark.parametrize("budgets", [[45, 30, 17, 9, 3], [1, 44, 20, 12, 26]])
def test_neuron_pruning_matches_the_plain_rule(budgets: list[int]) -> None:
    population = Population.initialize(SIZES, list(range(5)), [0.1] * 5, ["cosine"] * 5)
    allowed = [m.clone() for m in population.weight_masks]
    alive, _ = live_neurons(allowed)
    weights = [w.clone() for w in population.weights]
    prune_neurons(population, allowed, alive, torch.tensor(budgets))
    counts = dense_count(allowed, alive)
    assert population.weight_nnz().tolist() == counts.tolist()
    for m, budget in enumerate(budgets):
        expected = plain_prune_neurons([w[m] for w in weights], SIZES, budget)
        assert [a[m].tolist() for a in alive] == expected
        assert int(counts[m]) >= min(budget, 45)
        for layer, mask in enumerate(population.weight_masks):
            keep = torch.tensor(expected[layer + 1]).unsqueeze(1) & torch.tensor(
                expected[layer]
            ).unsqueeze(0)
            assert torch.equal(mask[m], keep)


class ScoredSession(TrainingSession):
    """Records every score the algorithm asks for, and the state it scored."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.scored: list[tuple[torch.Tensor, torch.Tensor, Population]] = []
        self.trainings = 0

    def train(self, callbacks: Sequence[StepCallback] = (), epochs: int | None = None) -> None:
        self.trainings += 1
        super().train(callbacks, epochs)

    def score(self) -> tuple[torch.Tensor, torch.Tensor]:
        accuracy, loss = super().score()
        self.scored.append((accuracy.clone(), loss.clone(), self.population.clone()))
        return accuracy, loss


def test_the_best_training_of_each_model_is_kept_with_an_exact_effective_budget() -> None:
    targets = [6, 9, 14, 20]
    population = Population.initialize(SIZES, [0, 1, 2, 3], [0.1, 0.2, 0.05, 0.1], ["cosine"] * 4)
    session = ScoredSession(population, DATA, SGDConfig(epochs=2), engine="torch", seed=5)
    WidthThenWeights(FAST).run(session, torch.tensor(targets))
    assert session.trainings == 1 + FAST.candidates + FAST.restarts == len(session.scored) + 1
    assert WidthThenWeights(FAST).training_epochs(50) == 4 * 50
    assert population.weight_nnz().tolist() == targets
    # Budgets with room to spare are all effective; at 6 and 9 weights the narrowest
    # structure can leave one weight the repair has no live pair for (see the docstring).
    assert connectivity(population.weight_masks).disconnected[2:].tolist() == [0, 0]
    for m in range(4):
        ranked = sorted(
            range(len(session.scored)),
            key=lambda k: (-float(session.scored[k][0][m]), float(session.scored[k][1][m])),
        )
        winner = session.scored[ranked[0]][2]
        for layer in range(len(SIZES) - 1):
            assert torch.equal(population.weight_masks[layer][m], winner.weight_masks[layer][m])
            assert torch.equal(population.weights[layer][m], winner.weights[layer][m])
            assert torch.equal(population.biases[layer][m], winner.biases[layer][m])
    final_accuracy, _ = TrainingSession(population, DATA, SGDConfig(epochs=2)).score()
    best = torch.stack([s[0] for s in session.scored]).max(0).values
    assert torch.equal(final_accuracy, best)


def test_a_restart_draws_fresh_weights_within_the_default_bounds() -> None:
    population = Population.initialize(SIZES, [4, 5], [0.1, 0.1], ["cosine"] * 2)
    session = ScoredSession(population, DATA, SGDConfig(epochs=1), engine="torch", seed=1)
    params = WidthThenWeightsParams(candidates=1, restarts=1, events=3)
    WidthThenWeights(params).run(session, torch.tensor([8, 15]))
    (_, _, pruned), (_, _, restarted) = session.scored
    for layer, mask in enumerate(restarted.weight_masks):
        assert torch.equal(mask, pruned.weight_masks[layer])  # the restart keeps the mask
    for layer, w in enumerate(population.weights):
        assert (w[~population.weight_masks[layer]] == 0).all()
    assert not torch.equal(restarted.weights[0], pruned.weights[0])


def test_a_models_run_does_not_depend_on_its_companions() -> None:
    def run(models: list[tuple[int, float, int]]) -> Population:
        population = Population.initialize(
            SIZES, [s for s, _, _ in models], [lr for _, lr, _ in models], ["cosine"] * len(models)
        )
        session = TrainingSession(population, DATA, SGDConfig(epochs=1), engine="torch", seed=2)
        WidthThenWeights(FAST).run(session, torch.tensor([t for _, _, t in models]))
        return population

    model = (7, 0.1, 11)
    alone = run([model])
    together = run([(1, 0.2, 5), model, (3, 0.05, 30)])
    for a, t in zip(alone.weight_masks, together.weight_masks, strict=True):
        assert torch.equal(a[0], t[1])
    for a, t in zip(alone.weights, together.weights, strict=True):
        torch.testing.assert_close(a[0], t[1], atol=1e-5, rtol=0)


def test_bad_hyper_parameters_are_refused() -> None:
    for bad in (
        {"max_slack": 0.5},
        {"candidates": 0},
        {"restarts": -1},
        {"events": 0},
    ):
        with pytest.raises(ValueError):
            WidthThenWeightsParams(**bad)
    assert WidthThenWeights(WidthThenWeightsParams(candidates=3, max_slack=4.0)).slacks() == [
        4.0,
        2.0,
        1.0,
    ]
