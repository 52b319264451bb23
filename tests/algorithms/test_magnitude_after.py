"""Magnitude pruning after training, against a plain one-model reference written here.

The helpers `plain_train` and `plain_magnitude_mask` are the one-model references the
other algorithm tests reuse: an autograd MLP, torch's SGD, the harness's data orders and
lr schedules, masks re-applied after every step, and a Python sort for magnitude pruning.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from algorithms.magnitude_after import (
    MagnitudeAfterParams,
    MagnitudeAfterTraining,
    magnitude_masks,
)
from harness.training.data_order import epoch_orders
from harness.training.datasets import Dataset, load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.schedules import lr_factor
from harness.training.session import TrainingSession

SIZES = (2, 4, 4, 4, 1)

Hook = Callable[[int, list[torch.Tensor], list[torch.Tensor], torch.optim.Optimizer], None]


class PlainModel:
    """One MLP as plain tensors: weights[l] [out, in], biases[l] [out], bool masks[l]."""

    def __init__(self, population: Population, k: int) -> None:
        self.weights = [w[k].detach().clone().requires_grad_(True) for w in population.weights]
        self.biases = [b[k].detach().clone().requires_grad_(True) for b in population.biases]
        self.masks = [m[k].clone() for m in population.weight_masks]

    def bias_masks(self) -> list[torch.Tensor]:
        hidden = [nxt.any(0) for nxt in self.masks[1:]]
        return [*hidden, torch.ones(self.masks[-1].shape[0], dtype=torch.bool)]

    @torch.no_grad()
    def apply_masks(self) -> None:
        for w, m in zip(self.weights, self.masks, strict=True):
            w.mul_(m)
        for b, m in zip(self.biases, self.bias_masks(), strict=True):
            b.mul_(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if layer < len(self.weights) - 1:
                h = torch.relu(h)
        return h.squeeze(-1)


def plain_train(
    model: PlainModel,
    data: Dataset,
    lr: float,
    schedule: str,
    epochs: int,
    data_seed: int,
    epoch_offset: int = 0,
    hook: Hook | None = None,
) -> torch.optim.Optimizer:
    """The study's training of one model; `hook(step, weights, masks, optimizer)` runs
    before optimiser step `step` (0-based over this training) and may prune."""
    config = SGDConfig()
    params = [*model.weights, *model.biases]
    optimizer = torch.optim.SGD(
        params, lr=lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    x, y = torch.as_tensor(data.x), torch.as_tensor(data.y)
    steps = data.points // config.batch_size
    model.apply_masks()
    for epoch in range(epochs):
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_factor(schedule, epoch, epochs)
        order = torch.as_tensor(epoch_orders([data_seed], epoch_offset + epoch, data.points)[0])
        for step in range(steps):
            if hook is not None:
                hook(epoch * steps + step, model.weights, model.masks, optimizer)
                model.apply_masks()
            index = order[step * config.batch_size : (step + 1) * config.batch_size].long()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model.forward(x[index]), y[index]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.apply_masks()
    return optimizer


def plain_magnitude_mask(
    weights: list[torch.Tensor], masks: list[torch.Tensor], keep: int
) -> list[torch.Tensor]:
    """Keep the `keep` largest |w| among kept weights: a Python sort by (-|w|, index)."""
    flat = torch.cat([w.detach().abs().flatten() for w in weights]).tolist()
    kept = torch.cat([m.flatten() for m in masks]).tolist()
    ranked = sorted((i for i in range(len(flat)) if kept[i]), key=lambda i: (-flat[i], i))
    chosen = set(ranked[:keep])
    new = torch.tensor([i in chosen for i in range(len(flat))])
    out, start = [], 0
    for m in masks:
        out.append(new[start : start + m.numel()].reshape(m.shape))
        start += m.numel()
    return out


def test_magnitude_masks_match_a_python_sort_with_ties() -> None:
    g = torch.Generator().manual_seed(3)
    population = Population.initialize(SIZES, [0, 1, 2], [0.1] * 3, ["cosine"] * 3)
    for w, m in zip(population.weights, population.weight_masks, strict=True):
        w.copy_(torch.randint(-3, 4, w.shape, generator=g).float() / 4)  # many ties
        m &= torch.rand(m.shape, generator=g) < 0.8
    population.apply_masks()
    keep = torch.tensor([4, 11, 20])
    masks = magnitude_masks(population, keep)
    for k in range(3):
        model = PlainModel(population, k)
        expected = plain_magnitude_mask(model.weights, model.masks, int(keep[k]))
        for got, want in zip(masks, expected, strict=True):
            assert torch.equal(got[k], want)


@pytest.mark.parametrize("finetune", [None, 1])
def test_batched_run_matches_the_plain_reference(finetune: int | None) -> None:
    data = load_dataset("xor")
    epochs = 2
    lrs, schedules, targets = [0.1, 0.05, 0.2], ["cosine", "multistep", "constant"], [5, 12, 30]
    population = Population.initialize(SIZES, [4, 5, 6], lrs, schedules)
    references = [PlainModel(population, k) for k in range(3)]
    session = TrainingSession(population, data, SGDConfig(epochs=epochs), engine="torch")
    MagnitudeAfterTraining(MagnitudeAfterParams(finetune_epochs=finetune)).run(
        session, torch.tensor(targets)
    )
    for k, model in enumerate(references):
        plain_train(model, data, lrs[k], schedules[k], epochs, data_seed=4 + k)
        model.masks = plain_magnitude_mask(model.weights, model.masks, targets[k])
        model.apply_masks()
        plain_train(
            model, data, lrs[k], schedules[k], finetune or epochs, 4 + k, epoch_offset=epochs
        )
        for layer in range(len(SIZES) - 1):
            assert torch.equal(population.weight_masks[layer][k], model.masks[layer])
            torch.testing.assert_close(
                population.weights[layer][k], model.weights[layer].detach(), atol=2e-5, rtol=0
            )
        assert int(population.weight_nnz()[k]) == targets[k]


def test_rejects_impossible_targets() -> None:
    population = Population.initialize(SIZES, [0], [0.1], ["cosine"])
    session = TrainingSession(population, load_dataset("xor"), SGDConfig(epochs=1), engine="torch")
    with pytest.raises(ValueError, match="input-output path"):
        MagnitudeAfterTraining().run(session, torch.tensor([3]))
    with pytest.raises(ValueError, match="exceeds"):
        MagnitudeAfterTraining().run(session, torch.tensor([1000]))
