"""A population: M masked MLPs with the same layer sizes, trained side by side.

Layer l of every model is stored as one tensor `weights[l]` of shape [M, out, in]
(and `biases[l]` [M, out]), so a whole population is a handful of tensors and any
operation over models is a batched tensor operation. Models of different widths share
a population by padding: a padded neuron has no weights and no bias, so it outputs 0
and gets no gradient, and the padded model computes exactly what the small one does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from algorithms.forward import mlp_forward
from harness.training.schedules import SCHEDULES


def schedule_code(name: str) -> int:
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")
    return SCHEDULES.index(name)


def derive_bias_masks(weight_masks: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """PAPER.md: a hidden neuron keeps its bias only while it has an outgoing weight;
    the output bias is always kept."""
    masks = [next_layer.any(dim=1) for next_layer in weight_masks[1:]]
    last = weight_masks[-1]
    masks.append(torch.ones(last.shape[0], last.shape[1], dtype=torch.bool, device=last.device))
    return masks


def default_linear_init(
    layer_sizes: Sequence[int], seed: int, generator: torch.Generator | None = None
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """nn.Linear's default init, layer by layer (weight then bias), from `seed`.

    Bit for bit what `torch.manual_seed(seed)` followed by building the nn.Linear layers
    in order gives: weight ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)),
    bias ~ U(-1/sqrt(in), 1/sqrt(in)).
    """
    g = generator or torch.Generator()
    g.manual_seed(seed)
    weights, biases = [], []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        w = torch.empty(fan_out, fan_in)
        torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
        bound = 1 / math.sqrt(fan_in)
        b = torch.empty(fan_out).uniform_(-bound, bound, generator=g)
        weights.append(w)
        biases.append(b)
    return weights, biases


@dataclass
class Population:
    """M masked MLPs. Every tensor's first axis is the model.

    lr: base learning rate per model; schedule: index into SCHEDULES; data_seed: seeds
    the model's data order (see harness.training.data_order); init_seed: the seed its weights came
    from (recorded, not used by training).
    """

    layer_sizes: tuple[int, ...]
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    weight_masks: list[torch.Tensor]
    lr: torch.Tensor
    schedule: torch.Tensor
    data_seed: torch.Tensor
    init_seed: torch.Tensor
    diverged: torch.Tensor = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.diverged is None:
            self.diverged = torch.zeros(self.size, dtype=torch.bool)

    @property
    def size(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    @property
    def bias_masks(self) -> list[torch.Tensor]:
        return derive_bias_masks(self.weight_masks)

    @classmethod
    def initialize(
        cls,
        layer_sizes: Sequence[int],
        init_seeds: Sequence[int],
        lrs: Sequence[float],
        schedules: Sequence[str],
        data_seeds: Sequence[int] | None = None,
        active_sizes: Sequence[Sequence[int]] | None = None,
        weight_masks: Sequence[torch.Tensor] | None = None,
    ) -> Population:
        """Seeded default init per model. `active_sizes[m]` (same length as layer_sizes)
        makes model m a smaller MLP padded into `layer_sizes`: it is initialised exactly
        as that small MLP would be and its padding is masked off. `weight_masks`, if
        given, are further ANDed in."""
        sizes = tuple(int(s) for s in layer_sizes)
        m = len(init_seeds)
        if not (len(lrs) == len(schedules) == m):
            raise ValueError("init_seeds, lrs and schedules need one entry per model")
        weights = [torch.zeros(m, o, i) for i, o in zip(sizes[:-1], sizes[1:])]
        biases = [torch.zeros(m, o) for o in sizes[1:]]
        masks = [torch.zeros(m, o, i, dtype=torch.bool) for i, o in zip(sizes[:-1], sizes[1:])]
        generator = torch.Generator()
        for k, seed in enumerate(init_seeds):
            active = tuple(active_sizes[k]) if active_sizes is not None else sizes
            if len(active) != len(sizes) or any(a > s or a < 1 for a, s in zip(active, sizes)):
                raise ValueError(f"active sizes {active} do not fit in {sizes}")
            ws, bs = default_linear_init(active, int(seed), generator)
            for layer, (w, b) in enumerate(zip(ws, bs)):
                o, i = w.shape
                weights[layer][k, :o, :i] = w
                biases[layer][k, :o] = b
                masks[layer][k, :o, :i] = True
        if weight_masks is not None:
            masks = [a & b.to(torch.bool) for a, b in zip(masks, weight_masks)]
        population = cls(
            layer_sizes=sizes,
            weights=weights,
            biases=biases,
            weight_masks=masks,
            lr=torch.tensor(list(lrs), dtype=torch.float64),
            schedule=torch.tensor([schedule_code(s) for s in schedules], dtype=torch.int64),
            data_seed=torch.tensor(
                list(data_seeds if data_seeds is not None else init_seeds), dtype=torch.int64
            ),
            init_seed=torch.tensor(list(init_seeds), dtype=torch.int64),
        )
        population.apply_masks()
        return population

    def apply_masks(self) -> None:
        """Zero every masked weight and bias, in place."""
        for w, mask in zip(self.weights, self.weight_masks):
            w.mul_(mask)
        for b, mask in zip(self.biases, self.bias_masks):
            b.mul_(mask)

    def weight_nnz(self) -> torch.Tensor:
        """Weights kept by the masks, per model [M] (counted from masks, not values)."""
        return sum(mask.flatten(1).sum(1) for mask in self.weight_masks)

    def model_nnz(self) -> torch.Tensor:
        """Weights plus kept biases, per model [M]."""
        return self.weight_nnz() + sum(mask.sum(1) for mask in self.bias_masks)

    def to(self, device: torch.device | str) -> Population:
        def move(ts: list[torch.Tensor]) -> list[torch.Tensor]:
            return [t.to(device) for t in ts]

        return Population(
            self.layer_sizes,
            move(self.weights),
            move(self.biases),
            move(self.weight_masks),
            self.lr.clone(),
            self.schedule.clone(),
            self.data_seed.clone(),
            self.init_seed.clone(),
            self.diverged.clone(),
        )

    def clone(self) -> Population:
        return self.select(torch.arange(self.size))

    def select(self, index: torch.Tensor | Sequence[int]) -> Population:
        """A new population of the models at `index` (copies)."""
        idx = torch.as_tensor(index, dtype=torch.int64)
        dev_idx = idx.to(self.device)
        return Population(
            self.layer_sizes,
            [w[dev_idx].clone() for w in self.weights],
            [b[dev_idx].clone() for b in self.biases],
            [mk[dev_idx].clone() for mk in self.weight_masks],
            self.lr[idx].clone(),
            self.schedule[idx].clone(),
            self.data_seed[idx].clone(),
            self.init_seed[idx].clone(),
            self.diverged[idx].clone(),
        )

    @staticmethod
    def concat(parts: Sequence[Population]) -> Population:
        first = parts[0]
        if any(p.layer_sizes != first.layer_sizes for p in parts):
            raise ValueError("populations to concatenate need the same layer sizes")

        def cat(get) -> list[torch.Tensor]:  # type: ignore[no-untyped-def]
            return [torch.cat(ts) for ts in zip(*(get(p) for p in parts))]

        return Population(
            first.layer_sizes,
            cat(lambda p: p.weights),
            cat(lambda p: p.biases),
            cat(lambda p: p.weight_masks),
            torch.cat([p.lr for p in parts]),
            torch.cat([p.schedule for p in parts]),
            torch.cat([p.data_seed for p in parts]),
            torch.cat([p.init_seed for p in parts]),
            torch.cat([p.diverged for p in parts]),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [M, N] of every model on inputs `x` [N, in] or [M, N, in]."""
        return mlp_forward(self.weights, self.biases, x)
