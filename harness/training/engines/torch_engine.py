"""The torch engine: batched forward/backward with bmm over [M, out, in] tensors.

Runs on any torch device (CUDA included), any depth and width; the general path and
the reference for the fast CPU kernel. Gradients are written out by hand (the MLP is
small and fixed), which keeps one step to a few batched kernels.

Nothing between steps waits for the device: the data orders are made on it
(harness.training.data_order.epoch_orders_torch, from per-model keys uploaded once; on
the CPU by the numba kernels' code, faster there and bit for bit the same), the
learning rates go up once per epoch without a synchronising copy, and a step issues the
same kernels whatever the population size, none reading a value back to the host.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from algorithms.forward import mlp_forward
from harness.training.data_order import epoch_orders, epoch_orders_torch, seed_keys
from harness.training.datasets import Dataset
from harness.training.engines.base import SGDConfig, TrainState


class TorchEngine:
    name = "torch"

    def __init__(
        self,
        data: Dataset,
        config: SGDConfig,
        device: torch.device,
        device_orders: bool | None = None,
    ) -> None:
        """device_orders: make the data orders with torch on `device` (the default off the
        CPU); else with the CPU kernels' numba code, the same values and on the CPU 40
        times faster (torch's int64 passes over a whole population's domain are
        memory-bound there)."""
        self.config = config
        self.device = device
        self.device_orders = device.type != "cpu" if device_orders is None else device_orders
        self.x = torch.as_tensor(data.x, device=device)
        self.y = torch.as_tensor(data.y, device=device)
        self.state: TrainState | None = None
        self._seeds = np.zeros(0, dtype=np.int64)
        self._keys = torch.zeros((0, 2), dtype=torch.int64, device=device)
        self._lrs = np.zeros(0, dtype=np.float32)
        self._rates: list[torch.Tensor] = []

    def import_state(self, state: TrainState) -> None:
        pop = state.population
        self.weights = [w.to(self.device) for w in pop.weights]
        self.biases = [b.to(self.device) for b in pop.biases]
        self.weight_masks = [m.to(self.device, torch.float32) for m in pop.weight_masks]
        self.bias_masks = [m.to(self.device, torch.float32) for m in pop.bias_masks]
        self.weight_momentum = [v.to(self.device) for v in state.weight_momentum]
        self.bias_momentum = [v.to(self.device) for v in state.bias_momentum]
        self._masked = [  # read back once here, so that no step waits on the device
            (not bool(w.all()), not bool(b.all()))
            for w, b in zip(self.weight_masks, self.bias_masks, strict=True)
        ]

    def export_state(self, state: TrainState) -> None:
        pop = state.population
        for dst, src in zip(
            [*pop.weights, *pop.biases, *state.weight_momentum, *state.bias_momentum],
            [*self.weights, *self.biases, *self.weight_momentum, *self.bias_momentum],
        ):
            if dst is not src:
                dst.copy_(src)

    def epoch_orders(self, seeds: np.ndarray, epoch: int, n: int) -> torch.Tensor:
        """harness.training.data_order.epoch_orders(seeds, epoch, n), bit for bit, as int64
        [len(seeds), n] on this engine's device, made there when `device_orders` (the
        seeds' keys going up once)."""
        seeds = np.asarray(seeds, dtype=np.int64)
        if not self.device_orders:
            return torch.from_numpy(epoch_orders(seeds, epoch, n)).to(self.device, torch.int64)
        if not np.array_equal(seeds, self._seeds):
            self._seeds = seeds.copy()
            self._keys = _upload(torch.from_numpy(seed_keys(seeds)), self.device)
        return epoch_orders_torch(self._keys, epoch, n)

    def run_epoch(self, seeds: np.ndarray, epoch: int, n: int, lrs: np.ndarray) -> None:
        """A whole epoch, its orders made on the device (the Engine protocol's fused path)."""
        self.run_steps(self.epoch_orders(seeds, epoch, n), 0, n // self.config.batch_size, lrs)

    def run_steps(
        self, orders: np.ndarray | torch.Tensor, first: int, count: int, lrs: np.ndarray
    ) -> None:
        batch = self.config.batch_size
        if isinstance(orders, torch.Tensor):
            order = orders.to(self.device, torch.int64)
        else:
            order = torch.as_tensor(np.ascontiguousarray(orders), device=self.device)
            order = order.to(torch.int64)
        self._set_rates(lrs)
        work = batch * sum(w.numel() for w in self.weights)  # multiply-adds per step
        with cpu_threads(self.device, work):
            for step in range(first, first + count):
                self._step(order[:, step * batch : (step + 1) * batch])

    def _set_rates(self, lrs: np.ndarray) -> None:
        """-lr per model on the device, uploaded when the rates change (once an epoch)."""
        lrs = np.asarray(lrs, dtype=np.float32)
        if self._rates and np.array_equal(lrs, self._lrs):
            return
        self._lrs = lrs.copy()
        lr = _upload(torch.from_numpy(self._lrs), self.device)
        self._rates = [-lr.view(-1, 1, 1), -lr.view(-1, 1)]

    def _step(self, index: torch.Tensor) -> None:
        """One SGD step of every model on its own batch `index` [M, B]: the mean BCE
        gradient (by hand: the MLP is small and fixed) accumulated straight into the
        momentum, buf = momentum * buf + weight_decay * p + grad (torch.optim.SGD's
        update, summed in another order), then p -= lr * buf and the mask, layer by
        layer from the output (each layer's delta taken before its weights move)."""
        cfg = self.config
        y = self.y[index]
        activations: list[torch.Tensor] = []  # each layer's input
        logits = mlp_forward(self.weights, self.biases, self.x[index], activations)
        delta = ((torch.sigmoid(logits) - y) / logits.shape[1]).unsqueeze(-1)
        weight_rate, bias_rate = self._rates
        for layer in range(len(self.weights) - 1, -1, -1):
            a_in = activations[layer]
            w, b = self.weights[layer], self.biases[layer]
            w_buf, b_buf = self.weight_momentum[layer], self.bias_momentum[layer]
            back = torch.bmm(delta, w) if layer > 0 else None
            w_buf.mul_(cfg.momentum).add_(w, alpha=cfg.weight_decay)
            w_buf.baddbmm_(delta.transpose(1, 2), a_in)
            b_buf.mul_(cfg.momentum).add_(b, alpha=cfg.weight_decay).add_(delta.sum(dim=1))
            w.addcmul_(weight_rate, w_buf)
            b.addcmul_(bias_rate, b_buf)
            w_masked, b_masked = self._masked[layer]
            if w_masked:
                w.mul_(self.weight_masks[layer])
            if b_masked:
                b.mul_(self.bias_masks[layer])
            if back is not None:
                delta = torch.ops.aten.threshold_backward(back, a_in, 0.0)


def _upload(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`tensor` (on the host) on `device`; to a GPU through pinned memory without waiting
    for the work already queued there (the caching host allocator keeps the pinned block
    until the copy is done)."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


PARALLEL_WORK = 1 << 23
"""Multiply-adds per step from which torch gets every core on the CPU (a few dense
width-256 models); below, the extra threads cost more in barriers than they save."""


@contextmanager
def cpu_threads(device: torch.device, work: int) -> Iterator[None]:
    """Torch on every core while a big dense population trains on the CPU (nothing else
    runs then: the harness's other torch work keeps one thread, see engines.select);
    $SPARSEST_TORCH_THREADS caps it."""
    if device.type != "cpu" or work < PARALLEL_WORK:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("SPARSEST_TORCH_THREADS", os.cpu_count() or 1)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
