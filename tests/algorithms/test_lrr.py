"""Learning-rate rewinding against a plain one-model reference: torch's SGD restarted
with the lr schedule from its start after every prune, the weights kept as trained."""

from __future__ import annotations

import pytest
import torch

from algorithms.lrr import LearningRateRewinding, LearningRateRewindingParams
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession
from tests.algorithms.test_lth import RecordingSession, plain_levels
from tests.algorithms.test_magnitude_after import PlainModel, plain_magnitude_mask, plain_train

SIZES = (2, 4, 4, 4, 1)


@pytest.mark.parametrize("rounds", [1, 3])
def test_batched_run_matches_the_plain_reference(rounds: int) -> None:
    data = load_dataset("xor")
    epochs = 1
    lrs, schedules, targets = [0.1, 0.05, 0.2], ["cosine", "multistep", "constant"], [5, 12, 22]
    population = Population.initialize(SIZES, [3, 4, 5], lrs, schedules)
    references = [PlainModel(population, k) for k in range(3)]
    session = TrainingSession(population, data, SGDConfig(epochs=epochs), engine="torch")
    LearningRateRewinding(LearningRateRewindingParams(rounds=rounds)).run(
        session, torch.tensor(targets)
    )
    for k, model in enumerate(references):
        plain_train(model, data, lrs[k], schedules[k], epochs, data_seed=3 + k)
        for round_, keep in enumerate(plain_levels(44, targets[k], rounds), start=1):
            model.masks = plain_magnitude_mask(model.weights, model.masks, keep)
            plain_train(
                model, data, lrs[k], schedules[k], epochs, 3 + k, epoch_offset=round_ * epochs
            )
        for layer in range(4):
            assert torch.equal(population.weight_masks[layer][k], model.masks[layer])
            # Never rewound, float32 rounding differences add up over rounds + 1 trainings.
            torch.testing.assert_close(
                population.weights[layer][k], model.weights[layer].detach(), atol=1e-4, rtol=0
            )
    assert population.weight_nnz().tolist() == targets


def test_survivors_start_each_retraining_as_trained_not_rewound() -> None:
    data = load_dataset("xor")
    population = Population.initialize(SIZES, [0, 1], [0.1, 0.2], ["cosine"] * 2)
    initial = population.clone()
    session = RecordingSession(population, data, SGDConfig(epochs=1), engine="torch")
    LearningRateRewinding().run(session, torch.tensor([6, 20]))
    assert len(session.snapshots) == 5 and session.epochs_trained == 5
    assert LearningRateRewinding().training_epochs(7) == 35
    for snapshot in session.snapshots[1:]:
        mask = snapshot.weight_masks[0]
        assert not torch.equal(snapshot.weights[0][mask], initial.weights[0][mask])
    assert population.weight_nnz().tolist() == [6, 20]
