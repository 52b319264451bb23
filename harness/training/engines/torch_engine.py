"""The torch engine: batched forward/backward with bmm over [M, out, in] tensors.

Runs on any torch device (CUDA included), any depth and width; the general path and
the reference for the fast CPU kernel. Gradients are written out by hand (the MLP is
small and fixed), which keeps one step to a few batched kernels.
"""

from __future__ import annotations

import numpy as np
import torch

from algorithms.forward import mlp_forward
from harness.training.datasets import Dataset
from harness.training.engines.base import SGDConfig, TrainState


class TorchEngine:
    name = "torch"

    def __init__(self, data: Dataset, config: SGDConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.x = torch.as_tensor(data.x, device=device)
        self.y = torch.as_tensor(data.y, device=device)
        self.state: TrainState | None = None

    def import_state(self, state: TrainState) -> None:
        pop = state.population
        self.weights = [w.to(self.device) for w in pop.weights]
        self.biases = [b.to(self.device) for b in pop.biases]
        self.weight_masks = [m.to(self.device, torch.float32) for m in pop.weight_masks]
        self.bias_masks = [m.to(self.device, torch.float32) for m in pop.bias_masks]
        self.weight_momentum = [v.to(self.device) for v in state.weight_momentum]
        self.bias_momentum = [v.to(self.device) for v in state.bias_momentum]

    def export_state(self, state: TrainState) -> None:
        pop = state.population
        for dst, src in zip(
            [*pop.weights, *pop.biases, *state.weight_momentum, *state.bias_momentum],
            [*self.weights, *self.biases, *self.weight_momentum, *self.bias_momentum],
        ):
            if dst is not src:
                dst.copy_(src)

    def gradients(
        self, index: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Mean BCE gradients of every model on its own batch `index` [M, B].

        Returns weight grads [M, out, in], bias grads [M, out] and the losses [M].
        """
        y = self.y[index]
        activations: list[torch.Tensor] = []  # each layer's input
        logits = mlp_forward(self.weights, self.biases, self.x[index], activations)
        depth = len(self.weights)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y, reduction="none"
        ).mean(dim=1)
        delta = ((torch.sigmoid(logits) - y) / logits.shape[1]).unsqueeze(-1)
        weight_grads: list[torch.Tensor] = [None] * depth  # type: ignore[list-item]
        bias_grads: list[torch.Tensor] = [None] * depth  # type: ignore[list-item]
        for layer in range(depth - 1, -1, -1):
            a_in = activations[layer]
            weight_grads[layer] = torch.bmm(delta.transpose(1, 2), a_in)
            bias_grads[layer] = delta.sum(dim=1)
            if layer > 0:
                delta = torch.bmm(delta, self.weights[layer]) * (a_in > 0)
        return weight_grads, bias_grads, loss

    def run_steps(self, orders: np.ndarray, first: int, count: int, lrs: np.ndarray) -> None:
        cfg = self.config
        batch = cfg.batch_size
        order = torch.as_tensor(np.ascontiguousarray(orders), device=self.device, dtype=torch.int64)
        lr = torch.as_tensor(lrs, device=self.device, dtype=torch.float32)
        for step in range(first, first + count):
            index = order[:, step * batch : (step + 1) * batch]
            weight_grads, bias_grads, _ = self.gradients(index)
            for params, grads, bufs, masks in (
                (self.weights, weight_grads, self.weight_momentum, self.weight_masks),
                (self.biases, bias_grads, self.bias_momentum, self.bias_masks),
            ):
                for p, g, buf, mask in zip(params, grads, bufs, masks):
                    g.add_(p, alpha=cfg.weight_decay)
                    buf.mul_(cfg.momentum).add_(g)  # from zero: exactly torch's first step
                    shape = (-1,) + (1,) * (p.dim() - 1)
                    p.sub_(lr.view(shape) * buf)
                    p.mul_(mask)
