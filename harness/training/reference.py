"""The plain one-model-at-a-time computation every shortcut is checked against.

One nn.Module, torch's own SGD and lr schedulers, a DataLoader, the mask re-applied
after every optimiser step: the study's reference loop, written the obvious way. Used by
the equivalence tests and as the baseline of `sparsest bench`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from harness.training.data_order import epoch_orders
from harness.training.datasets import Dataset
from harness.training.engines.base import SGDConfig
from harness.training.schedules import multistep_milestones

DEFAULT_CONFIG = SGDConfig()


def build_mlp(layer_sizes: Sequence[int], seed: int) -> nn.Sequential:
    """The study's MLP with nn.Linear's default init under `torch.manual_seed(seed)`."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for k, (fan_in, fan_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if k < len(layer_sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SeededOrderSampler(Sampler[int]):
    """Yields data_order.epoch_orders' permutation for (seed, epoch), one epoch per iteration."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def __iter__(self) -> Iterator[int]:
        order = epoch_orders(np.array([self.seed]), self.epoch, self.n)[0]
        self.epoch += 1
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.n


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, epochs: int
) -> torch.optim.lr_scheduler.LRScheduler:
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=0)
    if schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(multistep_milestones(epochs)), gamma=0.1
        )
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def train_reference(
    model: nn.Sequential,
    data: Dataset,
    lr: float,
    schedule: str,
    config: SGDConfig = DEFAULT_CONFIG,
    data_seed: int | None = None,
    masks: Sequence[torch.Tensor] | None = None,
    max_steps: int | None = None,
) -> nn.Sequential:
    """Train `model` in place. `data_seed` set: the harness's data order (for exact
    comparisons); None: a plain shuffling DataLoader, as the reference code does.
    `masks` are 0/1 per Linear weight; biases follow PAPER.md's rule."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    bias_masks: list[torch.Tensor] = []
    if masks is not None:
        bool_masks = [m.bool() for m in masks]
        bias_masks = [nxt.any(0) for nxt in bool_masks[1:]] + [torch.ones(1, dtype=torch.bool)]

    def apply_masks() -> None:
        if masks is None:
            return
        with torch.no_grad():
            for linear, wm, bm in zip(linears, bool_masks, bias_masks):
                linear.weight.mul_(wm)
                linear.bias.mul_(bm)

    dataset = TensorDataset(torch.as_tensor(data.x), torch.as_tensor(data.y))
    if data_seed is None:
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=True)
    else:
        sampler = SeededOrderSampler(data.points, data_seed)
        loader = DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, drop_last=True)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    scheduler = make_scheduler(optimizer, schedule, config.epochs)
    loss_fn = nn.BCEWithLogitsLoss()
    apply_masks()
    steps = 0
    for _ in range(config.epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x).squeeze(-1), y).backward()
            optimizer.step()
            apply_masks()
            steps += 1
            if max_steps is not None and steps >= max_steps:
                return model
        scheduler.step()
    return model
