"""The fast CPU engine: generated per-shape kernels (harness.training.engines.ir_kernels) run by a
numba loop over models, the models spread over the CPU cores.

A model lives in flat float32 rows (parameters, mask, momentum) laid out as its kernel
wants, and the kernel runs a whole chunk of its steps (forward, BCE-with-logits
backward, torch.optim.SGD's momentum update, the mask) without leaving machine code. A
model's arithmetic depends only on its own parameters, data order and learning rate,
so its result is bitwise the same in any population (batch invariance).

Small networks (at most FUSED_MAX_PARAMS parameters) get the `fused` kernel, points in
the SIMD lanes; wider ones the `layered` kernel, features in the lanes. Where neither
applies (a batch size that is not a multiple of 16, a hidden layer wider than
LAYERED_MAX_WIDTH, an LLVM older than 15) the engine runs the torch engine's batched
code on the CPU instead. `kernel` names the choice after `import_state`.
"""

from __future__ import annotations

from collections.abc import Sequence

import llvmlite.binding as llvm
import numba
import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from harness.training.data_order import fill_order, fill_orders
from harness.training.datasets import Dataset
from harness.training.engines import ir_kernels
from harness.training.engines.base import SGDConfig, TrainState
from harness.training.engines.ir_program import LANES, compile_function

FUSED_MAX_PARAMS = 200
"""Networks with at most this many weights and biases use the fused kernel (measured
crossover: a 2-8-8-8-1 network, 177 parameters, still trains faster fused)."""
LAYERED_MAX_WIDTH = 48
"""Wider hidden layers go to torch's batched matmuls (competitive from about here on)."""


@intrinsic
def _call_kernel(
    typingctx, address, theta, theta_t, mask, buffer, data, order, scratch, steps, lr, wd, momentum
):  # type: ignore[no-untyped-def]
    """Call the kernel at machine address `address`: arrays by data pointer, the other
    arguments by value (the signature in harness.training.engines.ir_kernels)."""
    sig = types.void(
        address, theta, theta_t, mask, buffer, data, order, scratch, steps, lr, wd, momentum
    )

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        values = [
            context.make_array(kind)(context, builder, value).data
            for kind, value in zip(signature.args[1:8], args[1:8])
        ] + list(args[8:])
        function = ir.FunctionType(ir.VoidType(), [v.type for v in values])
        builder.call(builder.inttoptr(args[0], function.as_pointer()), values)
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(parallel=True, cache=True)
def _train_steps(
    address: int,
    theta: np.ndarray,
    theta_t: np.ndarray,
    mask: np.ndarray,
    buffer: np.ndarray,
    data: np.ndarray,
    orders: np.ndarray,
    rows: np.ndarray,
    start: int,
    count: int,
    lrs: np.ndarray,
    weight_decay: np.float32,
    momentum: np.float32,
    scratch_size: int,
) -> None:
    """`count` steps of every model m, its order being orders[rows[m], start:]."""
    for m in numba.prange(theta.shape[0]):
        scratch = np.zeros(scratch_size, np.float32)
        _call_kernel(
            address, theta[m], theta_t[m], mask[m], buffer[m], data,
            orders[rows[m], start:], scratch, count, lrs[m], weight_decay, momentum,
        )  # fmt: skip


@numba.njit(parallel=True, cache=True)
def _train_epoch(
    address: int,
    theta: np.ndarray,
    theta_t: np.ndarray,
    mask: np.ndarray,
    buffer: np.ndarray,
    data: np.ndarray,
    seeds: np.ndarray,
    epoch: np.int64,
    count: int,
    lrs: np.ndarray,
    weight_decay: np.float32,
    momentum: np.float32,
    scratch_size: int,
) -> None:
    """`count` steps of every model m on its own order for (seeds[m], epoch), made right
    before its steps, so the order is still in cache when the kernel reads it. (numba's
    cache keys on this file alone: the order algorithm compiled in here is data_order's
    "feistel-1"; a new order must touch this file too.)"""
    for m in numba.prange(theta.shape[0]):
        scratch = np.zeros(scratch_size, np.float32)
        order = np.empty(data.shape[0], np.int32)
        fill_order(order, seeds[m], epoch)
        _call_kernel(
            address, theta[m], theta_t[m], mask[m], buffer[m], data,
            order, scratch, count, lrs[m], weight_decay, momentum,
        )  # fmt: skip


def parameter_count(layer_sizes: Sequence[int]) -> int:
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]))


def choose_kernel(layer_sizes: Sequence[int], batch_size: int) -> str:
    """'fused', 'layered' or 'torch' (the fallback) for this shape and batch size."""
    if batch_size % LANES or llvm.llvm_version_info < (15,):
        return "torch"
    if parameter_count(layer_sizes) <= FUSED_MAX_PARAMS or len(layer_sizes) < 3:
        return "fused"
    if max(layer_sizes[1:-1]) <= LAYERED_MAX_WIDTH:
        return "layered"
    return "torch"


_KERNELS: dict[tuple[str, tuple[int, ...], int, int], tuple[ir_kernels.Kernel, int]] = {}


def build_kernel(
    kind: str, layer_sizes: Sequence[int], batch_size: int, row_width: int
) -> tuple[ir_kernels.Kernel, int]:
    """A kernel and its machine-code address, generated and compiled once per process."""
    key = (kind, tuple(int(s) for s in layer_sizes), batch_size, row_width)
    if key not in _KERNELS:
        make = ir_kernels.fused_kernel if kind == "fused" else ir_kernels.layered_kernel
        kernel = make(key[1], batch_size, row_width)
        _KERNELS[key] = kernel, compile_function(kernel.name, kernel.ir)
    return _KERNELS[key]


class NumbaEngine:
    """The Engine protocol (harness.training.engines.base) on the CPU; also makes the data orders
    (`epoch_orders`), into a buffer it reuses."""

    name = "numba"

    def __init__(self, data: Dataset, config: SGDConfig) -> None:
        self.config = config
        self.dataset = data
        inputs = data.x.shape[1]
        self.row_width = 1 << int(inputs).bit_length()  # inputs, label, padding
        self.data = np.zeros((data.points, self.row_width), dtype=np.float32)
        self.data[:, :inputs] = data.x
        self.data[:, inputs] = data.y
        self.kernel = ""
        self._torch = None
        self._orders = np.zeros((0, 0), dtype=np.int32)

    def epoch_orders(self, seeds: np.ndarray, epoch: int, n: int) -> np.ndarray:
        """harness.training.data_order.epoch_orders(seeds, epoch, n), bit for bit, written into this
        engine's buffer (valid until the next call): a fresh 50 MB array per epoch costs
        more in page faults than the shuffle itself."""
        seeds = np.ascontiguousarray(seeds, dtype=np.int64)
        if self._orders.shape != (len(seeds), n):
            self._orders = np.empty((len(seeds), n), dtype=np.int32)
        fill_orders(self._orders, seeds, np.int64(epoch))
        return self._orders

    def import_state(self, state: TrainState) -> None:
        pop = state.population
        self.kernel = choose_kernel(pop.layer_sizes, self.config.batch_size)
        if self.kernel == "torch":
            from harness.training.engines.torch_engine import TorchEngine

            self._torch = TorchEngine(self.dataset, self.config, torch.device("cpu"))
            self._torch.import_state(state)
            return
        self._torch = None
        self.layout, self.address = build_kernel(
            self.kernel, pop.layer_sizes, self.config.batch_size, self.row_width
        )
        positions = [*self.layout.weight_pos, *self.layout.bias_pos]
        masks = [mk.to(torch.float32) for mk in [*pop.weight_masks, *pop.bias_masks]]
        self.theta = self._pack([*pop.weights, *pop.biases], positions)
        self.mask = self._pack(masks, positions)
        self.buffer = self._pack([*state.weight_momentum, *state.bias_momentum], positions)
        self.theta_t = np.zeros((pop.size, max(self.layout.transposed, 1)), dtype=np.float32)
        self.theta_t[:, self.layout.transpose_dst] = self.theta[:, self.layout.transpose_src]

    def _pack(self, tensors: Sequence[torch.Tensor], positions: Sequence[np.ndarray]) -> np.ndarray:
        rows = np.zeros((tensors[0].shape[0], self.layout.params), dtype=np.float32)
        for t, pos in zip(tensors, positions):
            rows[:, pos.ravel()] = t.detach().reshape(t.shape[0], -1).cpu().numpy()
        return rows

    def export_state(self, state: TrainState) -> None:
        if self._torch is not None:
            self._torch.export_state(state)
            return
        pop, layout = state.population, self.layout
        for rows, tensors, positions in (
            (self.theta, pop.weights, layout.weight_pos),
            (self.theta, pop.biases, layout.bias_pos),
            (self.buffer, state.weight_momentum, layout.weight_pos),
            (self.buffer, state.bias_momentum, layout.bias_pos),
        ):
            for t, pos in zip(tensors, positions):
                t.copy_(torch.from_numpy(rows[:, pos.ravel()]).reshape(t.shape))

    def run_epoch(self, seeds: np.ndarray, epoch: int, n: int, lrs: np.ndarray) -> None:
        """A whole epoch, each model's order made inside its own work (the Engine
        protocol's optional fused path): a quarter faster than `epoch_orders` then
        `run_steps` for small networks, whose steps cost little next to the shuffle."""
        steps = n // self.config.batch_size
        if self._torch is not None or n != self.data.shape[0]:
            self.run_steps(self.epoch_orders(seeds, epoch, n), 0, steps, lrs)
            return
        if steps <= 0 or self.theta.shape[0] == 0:
            return
        _train_epoch(
            self.address,
            self.theta,
            self.theta_t,
            self.mask,
            self.buffer,
            self.data,
            np.ascontiguousarray(seeds, dtype=np.int64),
            np.int64(epoch),
            steps,
            np.ascontiguousarray(lrs, dtype=np.float32),
            np.float32(self.config.weight_decay),
            np.float32(self.config.momentum),
            self.layout.scratch,
        )

    def run_steps(self, orders: np.ndarray, first: int, count: int, lrs: np.ndarray) -> None:
        if self._torch is not None:
            self._torch.run_steps(orders, first, count, lrs)
            return
        models = self.theta.shape[0]
        if count <= 0 or models == 0:
            return
        shared = orders.shape[0] > 1 and orders.strides[0] == 0  # a broadcast view
        table = np.ascontiguousarray(orders[:1] if shared else orders, dtype=np.int32)
        batch = self.config.batch_size
        if table.shape[0] not in (1, models) or (first + count) * batch > table.shape[1]:
            raise ValueError(
                f"orders of shape {orders.shape} do not cover steps {first}..{first + count - 1}"
                f" of {models} models"
            )
        rows = np.arange(models) if table.shape[0] == models else np.zeros(models, np.int64)
        _train_steps(
            self.address,
            self.theta,
            self.theta_t,
            self.mask,
            self.buffer,
            self.data,
            table,
            rows,
            first * batch,
            count,
            np.ascontiguousarray(lrs, dtype=np.float32),
            np.float32(self.config.weight_decay),
            np.float32(self.config.momentum),
            self.layout.scratch,
        )
