"""What a pruning algorithm is, and what it may ask of the harness.

`algorithms` depends on torch alone: the harness implements the protocols below
(`PopulationLike`, `TrainStateLike`, `Session`) and calls `Algorithm.run`. An algorithm
decides *when* to train and *what* to keep; the harness decides how to train fast.

Every tensor's first axis is the model: an algorithm acts on M models at once.

Randomness is per model (`Session.draw`): a model's draws depend on that model alone,
never on its place in the population or its companions, so results are batch-invariant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch


class PopulationLike(Protocol):
    """M masked MLPs: weights[l] [M, out, in], biases[l] [M, out], bool masks alike."""

    layer_sizes: tuple[int, ...]
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    weight_masks: list[torch.Tensor]
    lr: torch.Tensor  # [M] base learning rate of each model

    @property
    def size(self) -> int: ...

    @property
    def bias_masks(self) -> list[torch.Tensor]: ...

    def apply_masks(self) -> None: ...

    def weight_nnz(self) -> torch.Tensor: ...

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


class TrainStateLike(Protocol):
    """A population in training: its SGD momentum buffers and where training is."""

    population: PopulationLike
    weight_momentum: list[torch.Tensor]
    bias_momentum: list[torch.Tensor]
    step: int
    epoch: int


class StepCallback:
    """Gets control at chosen optimiser steps of one training (before the step runs).

    `event_steps` lists them (0-based, over the whole training, `total_steps` steps);
    `on_event` may change weights, masks and momentum in place. Between events the
    harness runs steps in a fast engine it alone controls.
    """

    def event_steps(self, total_steps: int, steps_per_epoch: int) -> Sequence[int]:
        return ()

    def on_event(self, state: TrainStateLike, session: Session) -> None:
        pass


class Draw(Protocol):
    """Random numbers per model: [M, *shape], row m from model m's own stream.

    Uniform on [0, 1) or, with `normal`, standard normal, in `dtype`, on the population's
    device. Draws are made on the CPU, so a seed gives the same numbers on every device;
    the k-th call of a session gives a model the same numbers whatever its companions.
    """

    def __call__(
        self, shape: Sequence[int], normal: bool = False, dtype: torch.dtype = torch.float64
    ) -> torch.Tensor: ...


class Session(Protocol):
    """What the harness offers an algorithm: the population, the data, training."""

    population: PopulationLike
    epochs: int
    batch_size: int

    @property
    def steps_per_epoch(self) -> int: ...

    def train(self, callbacks: Sequence[StepCallback] = (), epochs: int | None = None) -> None:
        """One full training run of the whole population (fresh momentum, the lr schedule
        from its start, the next epochs of each model's data order)."""

    def batch(
        self, size: int | None = None, balanced: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-model mini-batches (x [M, B, in], y [M, B]): the first batch of each
        model's first-epoch order (or a class-balanced sample when `balanced`)."""

    def gradients(
        self, x: torch.Tensor, y: torch.Tensor, population: PopulationLike | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Mean BCE gradients per model on (x, y): weight grads, bias grads, loss [M]."""

    def score(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Accuracy and mean loss [M] of every model on the training data, as the harness
        scores a finished run (an algorithm that trains more than once may compare)."""

    def draw(
        self, shape: Sequence[int], normal: bool = False, dtype: torch.dtype = torch.float64
    ) -> torch.Tensor:
        """The algorithm's own randomness, per model: [M, *shape] on the population's
        device, row m uniform on [0, 1) (standard normal with `normal`) from model m's own
        stream (see `Draw`): the k-th call gives a model the same numbers in any population."""


@dataclass(frozen=True)
class HyperParameters:
    """Base of every algorithm's hyper-parameter dataclass (frozen, defaults = paper's)."""


class Algorithm(Protocol):
    """One pruning algorithm. `run` leaves every model with exactly `target_nnz[m]` weights
    kept (masks are the truth; see algorithms.topk) and the population trained.

    An algorithm that trains more than once per run also defines
    `training_epochs(self, epochs) -> int`, the epochs a model trains in all (LTH: rounds
    + 1 trainings); planners use it to estimate a sweep's cost. Without it: `epochs`."""

    name: ClassVar[str]
    paper: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[HyperParameters]]

    def __init__(self, params: HyperParameters) -> None: ...

    def run(self, session: Session, target_nnz: torch.Tensor) -> None: ...
