"""Lottery ticket: geometric levels, bitwise rewinding, and a plain one-model reference."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import pytest
import torch

from algorithms.base import StepCallback
from algorithms.lth import LotteryTicket, LotteryTicketParams, geometric_levels
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession
from tests.algorithms.test_magnitude_after import (
    PlainModel,
    plain_magnitude_mask,
    plain_train,
)

SIZES = (2, 4, 4, 4, 1)


def plain_levels(n_start: int, n_final: int, rounds: int = 4) -> list[int]:
    levels = [
        max(int(n_start * (n_final / n_start) ** (k / rounds) // 1), n_final)
        for k in range(1, rounds)
    ]
    return [*levels, n_final]


@pytest.mark.parametrize("rounds", [1, 2, 4, 5])
def test_geometric_levels_follow_the_definition_and_end_exactly(rounds: int) -> None:
    n_start = torch.tensor([560, 560, 44, 27, 131_840, 65, 20])
    n_final = torch.tensor([15, 65, 4, 26, 15, 65, 20])
    levels = geometric_levels(n_start, n_final, rounds)
    assert levels.shape == (rounds, 7)
    for k in range(7):
        assert levels[:, k].tolist() == plain_levels(int(n_start[k]), int(n_final[k]), rounds)
        assert all(a >= b for a, b in pairwise(levels[:, k].tolist()))
    assert levels[-1].tolist() == n_final.tolist()


class RecordingSession(TrainingSession):
    """Snapshots the population at the start of every training."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.snapshots: list[Population] = []

    def train(self, callbacks: Sequence[StepCallback] = (), epochs: int | None = None) -> None:
        self.snapshots.append(self.population.clone())
        super().train(callbacks, epochs)


def test_rewound_survivors_equal_their_initial_values_bit_for_bit() -> None:
    data = load_dataset("xor")
    population = Population.initialize(SIZES, [0, 1, 2], [0.1, 0.2, 0.05], ["cosine"] * 3)
    initial = population.clone()
    session = RecordingSession(population, data, SGDConfig(epochs=1), engine="torch")
    LotteryTicket().run(session, torch.tensor([4, 9, 30]))
    assert len(session.snapshots) == 5
    assert session.epochs_trained == 5
    for snapshot in session.snapshots[1:]:
        for layer in range(4):
            mask = snapshot.weight_masks[layer]
            kept_w = snapshot.weights[layer][mask]
            assert torch.equal(kept_w, initial.weights[layer][mask])  # bitwise
            assert (snapshot.weights[layer][~mask] == 0).all()
            bias_mask = snapshot.bias_masks[layer]
            assert torch.equal(snapshot.biases[layer][bias_mask], initial.biases[layer][bias_mask])
            assert (snapshot.biases[layer][~bias_mask] == 0).all()
    nnz = [s.weight_nnz().tolist() for s in session.snapshots]
    assert nnz[0] == [44, 44, 44]
    assert nnz[-1] == [4, 9, 30] == population.weight_nnz().tolist()


def test_batched_run_matches_the_plain_reference() -> None:
    data = load_dataset("xor")
    epochs, rounds = 1, 3
    lrs, schedules, targets = [0.1, 0.05, 0.2], ["cosine", "multistep", "constant"], [5, 12, 22]
    population = Population.initialize(SIZES, [3, 4, 5], lrs, schedules)
    references = [PlainModel(population, k) for k in range(3)]
    session = TrainingSession(population, data, SGDConfig(epochs=epochs), engine="torch")
    LotteryTicket(LotteryTicketParams(rounds=rounds)).run(session, torch.tensor(targets))
    for k, model in enumerate(references):
        init_w = [w.detach().clone() for w in model.weights]
        init_b = [b.detach().clone() for b in model.biases]
        plain_train(model, data, lrs[k], schedules[k], epochs, data_seed=3 + k)
        for round_, keep in enumerate(plain_levels(44, targets[k], rounds), start=1):
            model.masks = plain_magnitude_mask(model.weights, model.masks, keep)
            with torch.no_grad():
                for w, w0 in zip(model.weights, init_w, strict=True):
                    w.copy_(w0)
                for b, b0 in zip(model.biases, init_b, strict=True):
                    b.copy_(b0)
            plain_train(
                model, data, lrs[k], schedules[k], epochs, 3 + k, epoch_offset=round_ * epochs
            )
        for layer in range(4):
            assert torch.equal(population.weight_masks[layer][k], model.masks[layer])
            torch.testing.assert_close(
                population.weights[layer][k], model.weights[layer].detach(), atol=2e-5, rtol=0
            )
    assert population.weight_nnz().tolist() == targets
