"""The fast CPU engine: a generated per-shape gradient kernel (harness.engines.ir_kernels)
driven by a numba loop that runs models in parallel, one model's steps at a time.

Each model lives in flat float32 rows (parameters, mask, momentum) laid out as its
kernel wants; a step is: kernel (mean BCE gradient of one batch), then torch.optim.SGD's
update `buf = momentum * buf + (grad + weight_decay * p)`, `p = (p - lr * buf) * mask`.
A model's arithmetic depends only on its own parameters, data order and learning rate,
so its result is bitwise the same in any population (batch invariance).

Small networks get the `fused` kernel (points in SIMD lanes), wider ones the `layered`
kernel (features in lanes). Where neither applies (a batch size not a multiple of 16,
hidden layers wider than LAYERED_MAX_WIDTH, an LLVM older than 15), the engine runs the
torch engine's batched code on the CPU instead; `kernel` says which.
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

from harness.data import Dataset
from harness.engines import ir_kernels
from harness.engines.base import SGDConfig, TrainState
from harness.engines.ir_program import LANES, compile_function

FUSED_MAX_PARAMS = 160
"""Networks with at most this many parameters (weights and biases) use the fused kernel."""
LAYERED_MAX_WIDTH = 64
"""Above this hidden width torch's batched matmuls beat the layered kernel."""


@intrinsic
def _call_kernel(typingctx, address, theta, theta_t, mask, buffer, data, order, scratch, steps, lr, wd, momentum):  # type: ignore[no-untyped-def]
    """Call the kernel at machine address `address`: arrays by data pointer, the rest
    by value (see harness.engines.ir_kernels for the signature)."""
    sig = types.void(address, theta, theta_t, mask, buffer, data, order, scratch, steps, lr, wd, momentum)

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
    """`count` steps of every model, the order starting at position `start`, in parallel."""
    for m in numba.prange(theta.shape[0]):
        scratch = np.zeros(scratch_size, np.float32)
        order = orders[rows[m], start:]
        _call_kernel(
            address, theta[m], theta_t[m], mask[m], buffer[m], data, order, scratch,
            count, lrs[m], weight_decay, momentum,
        )


def parameter_count(layer_sizes: Sequence[int]) -> int:
    return sum((i + 1) * o for i, o in zip(layer_sizes[:-1], layer_sizes[1:]))


def choose_kernel(layer_sizes: Sequence[int], batch: int) -> str:
    """'fused', 'layered' or 'torch' (the fallback) for this shape and batch size."""
    if batch % LANES or llvm.llvm_version_info < (15,):
        return "torch"
    if parameter_count(layer_sizes) <= FUSED_MAX_PARAMS or len(layer_sizes) < 3:
        return "fused"
    if max(layer_sizes[1:-1]) <= LAYERED_MAX_WIDTH:
        return "layered"
    return "torch"


_KERNELS: dict[tuple[str, tuple[int, ...], int, int], ir_kernels.Kernel] = {}


def build_kernel(
    kind: str, layer_sizes: Sequence[int], batch: int, row_width: int
) -> tuple[ir_kernels.Kernel, int]:
    """The kernel and its machine-code address, generated and compiled once per process."""
    key = (kind, tuple(int(s) for s in layer_sizes), batch, row_width)
    if key not in _KERNELS:
        make = ir_kernels.fused_kernel if kind == "fused" else ir_kernels.layered_kernel
        _KERNELS[key] = make(key[1], batch, row_width)
    kernel = _KERNELS[key]
    return kernel, compile_function(kernel.name, kernel.ir)


class NumbaEngine:
    name = "numba"

    def __init__(self, data: Dataset, config: SGDConfig) -> None:
        self.config = config
        self.dataset = data
        inputs = data.x.shape[1]
        self.row_width = 1 << int(np.ceil(np.log2(inputs + 1)))
        self.data = np.zeros((data.points, self.row_width), dtype=np.float32)
        self.data[:, :inputs] = data.x
        self.data[:, inputs] = data.y
        self.kernel = ""
        self._torch = None

    def _pack(self, tensors: Sequence[torch.Tensor], positions: Sequence[np.ndarray], out: np.ndarray) -> None:
        for t, pos in zip(tensors, positions):
            out[:, pos.ravel()] = t.detach().reshape(t.shape[0], -1).cpu().numpy()

    def import_state(self, state: TrainState) -> None:
        pop = state.population
        self.kernel = choose_kernel(pop.layer_sizes, self.config.batch_size)
        if self.kernel == "torch":
            from harness.engines.torch_engine import TorchEngine

            self._torch = TorchEngine(self.dataset, self.config, torch.device("cpu"))
            self._torch.import_state(state)
            return
        self._torch = None
        layout, self.address = build_kernel(
            self.kernel, pop.layer_sizes, self.config.batch_size, self.row_width
        )
        self.layout = layout
        m = pop.size
        self.theta = np.zeros((m, layout.params), dtype=np.float32)
        self.mask = np.zeros_like(self.theta)
        self.buffer = np.zeros_like(self.theta)
        self._pack([*pop.weights, *pop.biases], [*layout.weight_pos, *layout.bias_pos], self.theta)
        masks = [mk.to(torch.float32) for mk in [*pop.weight_masks, *pop.bias_masks]]
        self._pack(masks, [*layout.weight_pos, *layout.bias_pos], self.mask)
        self._pack(
            [*state.weight_momentum, *state.bias_momentum],
            [*layout.weight_pos, *layout.bias_pos],
            self.buffer,
        )
        self.theta_t = np.zeros((m, max(layout.transposed, 1)), dtype=np.float32)
        self.theta_t[:, layout.transpose_dst] = self.theta[:, layout.transpose_src]

    def export_state(self, state: TrainState) -> None:
        if self._torch is not None:
            self._torch.export_state(state)
            return
        pop = state.population
        layout = self.layout
        for source, tensors, positions in (
            (self.theta, pop.weights, layout.weight_pos),
            (self.theta, pop.biases, layout.bias_pos),
            (self.buffer, state.weight_momentum, layout.weight_pos),
            (self.buffer, state.bias_momentum, layout.bias_pos),
        ):
            for t, pos in zip(tensors, positions):
                values = torch.from_numpy(source[:, pos.ravel()]).reshape(t.shape)
                t.copy_(values)

    def run_steps(self, orders: np.ndarray, first: int, count: int, lrs: np.ndarray) -> None:
        if self._torch is not None:
            self._torch.run_steps(orders, first, count, lrs)
            return
        models = self.theta.shape[0]
        if count <= 0 or models == 0:
            return
        if orders.shape[0] > 1 and orders.strides[0] == 0:  # one order shared by all
            table = np.ascontiguousarray(orders[:1], dtype=np.int32)
            rows = np.zeros(models, dtype=np.int64)
        else:
            table = np.ascontiguousarray(orders, dtype=np.int32)
            rows = np.arange(models, dtype=np.int64)
        batch = self.config.batch_size
        if (first + count) * batch > table.shape[1]:
            raise ValueError(f"steps {first}..{first + count - 1} run past the data order")
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
