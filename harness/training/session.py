"""The harness side of `algorithms.base.Session`: a population, its data and training."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

from algorithms.base import PopulationLike, StepCallback
from algorithms.forward import mlp_forward
from harness.training.data_order import epoch_orders
from harness.training.datasets import Dataset
from harness.training.engines.base import SGDConfig, TrainState
from harness.training.engines.select import make_engine
from harness.training.evaluation import evaluate
from harness.training.population import Population
from harness.training.trainer import ProgressFn, train


class TrainingSession:
    """Trains one population, possibly several times (each time on fresh data orders).

    `seed` drives the algorithm's own randomness (`draw`), never the training: with the
    model's init and data seeds it seeds each model's own draws, so a model draws the same
    numbers alone or in any population.
    """

    def __init__(
        self,
        population: Population,
        data: Dataset,
        config: SGDConfig,
        engine: str = "auto",
        seed: int = 0,
        progress: ProgressFn | None = None,
        compaction: str = "auto",
    ) -> None:
        self.population = population
        self.data = data
        self.config = config
        self.epochs = config.epochs
        self.batch_size = config.batch_size
        self.engine_name = engine
        self.compaction = compaction
        self.seed = seed
        self.progress = progress
        self.epochs_trained = 0
        self.draws = 0

    @property
    def steps_per_epoch(self) -> int:
        return self.config.steps_per_epoch(self.data.points)

    def train(self, callbacks: Sequence[StepCallback] = (), epochs: int | None = None) -> None:
        config = self.config
        if epochs is not None and epochs != config.epochs:
            config = SGDConfig(
                epochs, config.batch_size, config.momentum, config.weight_decay, config.shared_order
            )
        engine = make_engine(
            self.engine_name, self.data, config, self.population.device, self.compaction
        )
        state = TrainState.fresh(self.population)
        train(
            state,
            self.data,
            config,
            engine,
            callbacks,
            session=self,
            epoch_offset=self.epochs_trained,
            progress=self.progress,
        )
        self.epochs_trained += config.epochs

    def _first_orders(self) -> np.ndarray:
        seeds = self.population.data_seed.numpy()
        return epoch_orders(seeds, 0, self.data.points)

    def batch(
        self, size: int | None = None, balanced: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-model batches: x [M, B, in], y [M, B] from each model's first epoch order;
        `balanced` takes the first B/2 points of each class in that order."""
        size = size or self.batch_size
        orders = self._first_orders()
        if balanced:
            labels = self.data.y[orders]
            half = size // 2
            rows = []
            for order, label in zip(orders, labels):
                rows.append(
                    np.concatenate([order[label < 0.5][:half], order[label > 0.5][: size - half]])
                )
            index = np.stack(rows)
        else:
            index = orders[:, :size]
        device = self.population.device
        idx = torch.as_tensor(index, dtype=torch.int64, device=device)
        x = torch.as_tensor(self.data.x, device=device)[idx]
        y = torch.as_tensor(self.data.y, device=device)[idx]
        return x, y

    def gradients(
        self, x: torch.Tensor, y: torch.Tensor, population: PopulationLike | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        pop = population or self.population
        return batch_gradients(pop, x, y)

    def score(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Accuracy and mean loss [M] of every model on the training data (`evaluate`)."""
        scored = evaluate(self.population, self.data)
        return scored.accuracy, scored.loss

    def draw(
        self, shape: Sequence[int], normal: bool = False, dtype: torch.dtype = torch.float64
    ) -> torch.Tensor:
        """[M, *shape]: row m uniform on [0, 1) (standard normal with `normal`) from a CPU
        generator seeded by (session seed, model m's init seed, its data seed, this call's
        number), so the k-th call gives a model the same numbers whatever its companions.
        Models with the same init and data seeds draw the same numbers."""
        call = self.draws
        self.draws += 1
        population = self.population
        size = tuple(int(n) for n in shape)
        sample = torch.randn if normal else torch.rand
        rows = [
            sample(size, generator=model_generator(self.seed, init, data, call), dtype=dtype)
            for init, data in zip(
                population.init_seed.tolist(), population.data_seed.tolist(), strict=True
            )
        ]
        out = torch.stack(rows) if rows else torch.empty((0, *size), dtype=dtype)
        return out.to(population.device)


def model_generator(seed: int, init_seed: int, data_seed: int, call: int) -> torch.Generator:
    """A CPU generator for one model's `call`-th draw: seeded by a 63-bit BLAKE2b hash of
    the four numbers, so nearby seeds give unrelated streams."""
    text = f"{int(seed)}:{int(init_seed)}:{int(data_seed)}:{int(call)}".encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def batch_gradients(
    population: PopulationLike, x: torch.Tensor, y: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Mean BCE-with-logits gradients of each model on its batch (x [M, B, in], y [M, B])
    by autograd, so callers may also differentiate through them (create_graph)."""
    weights = [w.detach().requires_grad_(True) for w in population.weights]
    biases = [b.detach().requires_grad_(True) for b in population.biases]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        mlp_forward(weights, biases, x), y, reduction="none"
    ).mean(1)
    grads = torch.autograd.grad(loss.sum(), [*weights, *biases])
    depth = len(weights)
    return list(grads[:depth]), list(grads[depth:]), loss.detach()
