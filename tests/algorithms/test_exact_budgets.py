"""Every registered algorithm ends each model with exactly its target weight nnz (counted
from the masks, per layer and in total), and masked weights and biases stay exactly zero
through every optimiser step of every training it runs."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from algorithms.base import StepCallback
from algorithms.hparams import parse_hparams
from algorithms.registry import ALGORITHMS
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession

# Shorter update intervals so a 1-epoch (38-step) test run exercises the updates.
OVERRIDES = {"rigl": ["update_interval=10"], "srigl": ["update_interval=10"]}

STRUCTURES = {
    (3, 3, 3): [4, 5, 13, 26],
    (4, 3, 5): [4, 7, 20, 39],
}


class MasksHold(StepCallback):
    """Checks, before every optimiser step, that masked parameters are exactly zero."""

    def __init__(self) -> None:
        self.checked = 0

    def event_steps(self, total_steps: int, steps_per_epoch: int) -> Sequence[int]:
        return range(total_steps)

    def on_event(self, state, session) -> None:  # type: ignore[no-untyped-def]
        assert_masked_zero(state.population)
        self.checked += 1


def assert_masked_zero(population: Population) -> None:
    for w, mask in zip(population.weights, population.weight_masks, strict=True):
        assert (w[~mask] == 0).all()
    for b, mask in zip(population.biases, population.bias_masks, strict=True):
        assert (b[~mask] == 0).all()


class CheckedSession(TrainingSession):
    """Adds `MasksHold` after the algorithm's own callbacks in every training."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.watch = MasksHold()

    def train(self, callbacks: Sequence[StepCallback] = (), epochs: int | None = None) -> None:
        super().train([*callbacks, self.watch], epochs)
        assert_masked_zero(self.population)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("hidden", sorted(STRUCTURES), ids=lambda h: "x".join(map(str, h)))
def test_exact_budget_and_masks_hold(name: str, hidden: tuple[int, ...]) -> None:
    cls = ALGORITHMS[name]
    targets = STRUCTURES[hidden]
    m = len(targets)
    population = Population.initialize(
        (2, *hidden, 1), list(range(m)), [0.1, 0.05, 0.2, 0.1], ["cosine", "constant"] * 2
    )
    session = CheckedSession(population, load_dataset("xor"), SGDConfig(epochs=1), engine="torch")
    cls(parse_hparams(cls.Params, OVERRIDES.get(name, []))).run(session, torch.tensor(targets))
    assert session.population is population
    assert population.weight_nnz().tolist() == targets
    per_layer = torch.stack([mask.flatten(1).sum(1) for mask in population.weight_masks], 1)
    assert per_layer.sum(1).tolist() == targets
    assert session.watch.checked >= load_dataset("xor").points // 128
    assert_masked_zero(population)
