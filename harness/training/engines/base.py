"""The engine protocol: what the trainer needs from a backend that runs SGD steps.

An engine owns the population's parameters and momentum while a chunk of steps runs, in
whatever layout suits it (a numba kernel keeps models in SIMD lanes; the torch engine
keeps [M, out, in] tensors). Between chunks the trainer hands control to callbacks,
which read and write the plain `TrainState` tensors: `export_state` before them and
`import_state` after them keep the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from harness.errors import UserError
from harness.training.datasets import Dataset
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
        """

    # Optional: `run_epoch(seeds, epoch, n, lrs)`, a whole epoch's steps with model m on
    # harness.training.data_order.epoch_orders(seeds, epoch, n)[m], bit for bit what
    # `run_steps` gives on those orders. The trainer calls it for epochs no callback interrupts.


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu; cuda without a CUDA device is a UserError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; choose auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


def make_engine(name: str, data: Dataset, config: SGDConfig, device: torch.device) -> Engine:
    """`auto` picks the numba kernel on CPU and the torch engine elsewhere.

    On the CPU torch gets one thread (unless $SPARSEST_TORCH_THREADS says otherwise): the
    harness's torch work is many small ops between kernel calls, and on two cores a
    second torch thread only contends with the kernel's (measured 4-12x slower).
    """
    if device.type == "cpu":
        torch.set_num_threads(int(os.environ.get("SPARSEST_TORCH_THREADS", "1")))
    if name == "auto":
        name = "numba" if device.type == "cpu" else "torch"
    if name == "torch":
        from harness.training.engines.torch_engine import TorchEngine

        return TorchEngine(data, config, device)
    if name == "numba":
        if device.type != "cpu":
            raise ValueError("the numba engine runs on the CPU only; use --engine torch")
        from harness.training.engines.numba_engine import NumbaEngine

        return NumbaEngine(data, config)
    raise ValueError(f"unknown engine {name!r}; choose auto, torch or numba")


def resolve_engine(name: str, device: torch.device) -> str:
    """`auto`: the numba kernel on CPU when it is installed, else the torch engine."""
    if name != "auto":
        return name
    if device.type != "cpu":
        return "torch"
    try:
        import harness.training.engines.numba_engine  # noqa: F401
    except ImportError:
        return "torch"
    return "numba"
