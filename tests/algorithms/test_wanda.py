"""Wanda against a plain one-model reference: Python sorts, Fractions for the row quotas,
layer by layer through the pruned layers."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from algorithms.wanda import Wanda, WandaParams, row_quotas
from harness.training.data_order import epoch_orders
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession
from tests.algorithms.test_magnitude_after import SIZES, PlainModel, plain_train


def plain_quotas(counts: list[int], keep: int) -> list[int]:
    total = sum(counts)
    exact = [Fraction(n * keep, total) for n in counts]
    base = [math.floor(e) for e in exact]
    ranked = sorted((i for i in range(len(counts)) if exact[i] > base[i]),
                    key=lambda i: (-(exact[i] - base[i]), i))  # fmt: skip
    for i in ranked[: keep - sum(base)]:
        base[i] += 1
    return base


def plain_wanda(model: PlainModel, x: torch.Tensor, keep: int) -> list[torch.Tensor]:
    counts = [int(row.sum()) for m in model.masks for row in m]
    quotas = iter(plain_quotas(counts, keep))
    h = x.double()
    new = []
    for layer, (w, b, m) in enumerate(zip(model.weights, model.biases, model.masks, strict=True)):
        w64 = w.detach().double()
        norms = torch.linalg.norm(h, dim=0).tolist()
        mask = torch.zeros_like(m)
        for i in range(w.shape[0]):
            score = {j: abs(float(w64[i, j])) * norms[j] for j in range(w.shape[1]) if m[i, j]}
            for j in sorted(score, key=lambda j: (-score[j], j))[: next(quotas)]:
                mask[i, j] = True
        new.append(mask)
        h = h @ (w64 * mask).T + b.detach().double()
        if layer < len(model.weights) - 1:
            h = torch.relu(h)
    return new


def test_row_quotas_add_up_and_match_fractions() -> None:
    g = torch.Generator().manual_seed(0)
    counts = torch.randint(0, 6, (50, 9), generator=g)
    counts[:, 0] += 1
    keep = (torch.rand(50, generator=g) * counts.sum(1)).long().clamp(min=1)
    quotas = row_quotas(counts, keep)
    assert quotas.sum(1).tolist() == keep.tolist()
    assert bool((quotas <= counts).all())
    for m in range(50):
        assert quotas[m].tolist() == plain_quotas(counts[m].tolist(), int(keep[m]))


@pytest.mark.parametrize(("calibration", "finetune"), [(None, 0), (16, 1)])
def test_batched_run_matches_the_plain_reference(calibration: int | None, finetune: int) -> None:
    data = load_dataset("xor")
    epochs = 2
    lrs, schedules, targets = [0.1, 0.05, 0.2], ["cosine", "multistep", "constant"], [5, 12, 30]
    population = Population.initialize(SIZES, [4, 5, 6], lrs, schedules)
    references = [PlainModel(population, k) for k in range(3)]
    session = TrainingSession(population, data, SGDConfig(epochs=epochs), engine="torch")
    params = WandaParams(calibration_points=calibration, finetune_epochs=finetune)
    Wanda(params).run(session, torch.tensor(targets))
    for k, model in enumerate(references):
        plain_train(model, data, lrs[k], schedules[k], epochs, data_seed=4 + k)
        order = epoch_orders([4 + k], 0, data.points)[0][: calibration or data.points]
        model.masks = plain_wanda(model, torch.as_tensor(data.x)[order], targets[k])
        model.apply_masks()
        if finetune:
            plain_train(model, data, lrs[k], schedules[k], finetune, 4 + k, epoch_offset=epochs)
        for layer in range(len(SIZES) - 1):
            assert torch.equal(population.weight_masks[layer][k], model.masks[layer])
            torch.testing.assert_close(
                population.weights[layer][k], model.weights[layer].detach(), atol=2e-5, rtol=0
            )
        assert int(population.weight_nnz()[k]) == targets[k]
    assert Wanda(params).training_epochs(epochs) == epochs + finetune
