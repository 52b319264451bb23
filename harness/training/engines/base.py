"""The engine protocol: what the trainer needs from a backend that runs SGD steps.

An engine owns the population's parameters and momentum while a chunk of steps runs, in
whatever layout suits it (a numba kernel keeps models in SIMD lanes; the torch engine
keeps [M, out, in] tensors). Between chunks the trainer hands control to callbacks,
which read and write the plain `TrainState` tensors: `export_state` before them and
`import_state` after them keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from harness.training.population import Population


@dataclass(frozen=True)
class SGDConfig:
    """The study's optimiser and loop constants (PAPER.md, "Training")."""

    epochs: int = 50
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4
    shared_order: bool = False

    def steps_per_epoch(self, points: int) -> int:
        return points // self.batch_size  # the last partial batch is dropped


@dataclass
class TrainState:
    """The population plus its SGD momentum (one buffer per weight and bias tensor).

    `step` counts optimiser steps since training began; `epoch` is the current epoch.
    Momentum entries of masked weights are unspecified and never read while masked.
    """

    population: Population
    weight_momentum: list[torch.Tensor]
    bias_momentum: list[torch.Tensor]
    step: int = 0
    epoch: int = 0

    @classmethod
    def fresh(cls, population: Population) -> TrainState:
        return cls(
            population,
            [torch.zeros_like(w) for w in population.weights],
            [torch.zeros_like(b) for b in population.biases],
        )

    def reset_momentum(self) -> None:
        for buf in [*self.weight_momentum, *self.bias_momentum]:
            buf.zero_()


class Engine(Protocol):
    """Runs SGD steps (forward, BCE-with-logits backward, momentum SGD, re-mask)."""

    name: str

    def import_state(self, state: TrainState) -> None:
        """Take parameters, masks and momentum from `state` (after callbacks changed it)."""

    def export_state(self, state: TrainState) -> None:
        """Write parameters and momentum back into `state`'s tensors, in place."""

    def run_steps(self, orders: np.ndarray, first: int, count: int, lrs: np.ndarray) -> None:
        """Steps `first .. first+count-1` of the current epoch.

        orders: int32 [M, N] this epoch's data order per model; step s uses points
        orders[m, s*B:(s+1)*B]. lrs: float32 [M], this epoch's learning rate per model.
        Orders come from the engine's own `epoch_orders` when it has one (the torch
        engine's: an int64 tensor on its device), else from data_order.epoch_orders.
        """

    # Optional: `epoch_orders(seeds, epoch, n)`, data_order.epoch_orders' values bit for bit
    # in whatever form this engine's `run_steps` reads fastest.
    # Optional: `run_epoch(seeds, epoch, n, lrs)`, a whole epoch's steps with model m on
    # harness.training.data_order.epoch_orders(seeds, epoch, n)[m], bit for bit what
    # `run_steps` gives on those orders. The trainer calls it for epochs no callback interrupts.
