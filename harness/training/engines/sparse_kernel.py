"""The sparse kernel: SGD steps of one model that touch only its live weights.

A model arrives as lists (harness.training.engines.live): its parameters in one flat row,
its live neurons as rows of an activation table (inputs first, output last), and its live
connections as edges (input row, output row, parameter) in layer order, sorted by output
then input row. Points run in the inner loop, so every operation is a loop over the batch
that LLVM vectorises; every sum over neurons runs in edge order and every sum over points
in a fixed order (eight interleaved partial sums, then a fixed tree), so a model's result
depends only on its own lists, data order and learning rate.

Given the same lists with every weight and bias of the dense network (masked ones with
mask 0), the kernel computes masked dense training; dropping connections whose weight is
zero, and neurons that reach no output, leaves each sum's non-zero terms in the same order,
which is why compacted training is bitwise masked dense training (tests/harness).
Arithmetic is plain float32 without fused multiply-adds (numba does not contract), with
libm's expf: rounding differs from the other engines, within float32 round-off.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from harness.training.data_order import fill_order

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)


@numba.njit(inline="always")
def _dot(a: np.ndarray, b: np.ndarray, n: int) -> np.float32:
    """sum(a[:n] * b[:n]) as eight interleaved partial sums added in a fixed tree."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = _ZERO
    top = n - n % 8
    for p in range(0, top, 8):
        s0 += a[p] * b[p]
        s1 += a[p + 1] * b[p + 1]
        s2 += a[p + 2] * b[p + 2]
        s3 += a[p + 3] * b[p + 3]
        s4 += a[p + 4] * b[p + 4]
        s5 += a[p + 5] * b[p + 5]
        s6 += a[p + 6] * b[p + 6]
        s7 += a[p + 7] * b[p + 7]
    for p in range(top, n):
        s0 += a[p] * b[p]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@numba.njit(inline="always")
def _sum(a: np.ndarray, n: int) -> np.float32:
    """sum(a[:n]) in the same order as `_dot`."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = _ZERO
    top = n - n % 8
    for p in range(0, top, 8):
        s0 += a[p]
        s1 += a[p + 1]
        s2 += a[p + 2]
        s3 += a[p + 3]
        s4 += a[p + 4]
        s5 += a[p + 5]
        s6 += a[p + 6]
        s7 += a[p + 7]
    for p in range(top, n):
        s0 += a[p]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@numba.njit(cache=True)
def model_steps(
    theta: np.ndarray,
    buffer: np.ndarray,
    mask: np.ndarray,
    n_params: int,
    row_start: np.ndarray,
    bias_param: np.ndarray,
    edge_in: np.ndarray,
    edge_out: np.ndarray,
    edge_param: np.ndarray,
    edge_start: np.ndarray,
    data: np.ndarray,
    order: np.ndarray,
    steps: int,
    batch: int,
    lr: np.float32,
    weight_decay: np.float32,
    momentum: np.float32,
) -> None:
    """`steps` SGD steps of one model on points order[s*batch:(s+1)*batch].

    row_start [L+2]: activation rows of layer l are row_start[l]:row_start[l+1] (layer 0
    the inputs, layer L the output). bias_param[r]: row r's bias parameter or -1.
    edge_start [L+1]: layer l's edges (from layer l to l+1) are edge_start[l]:[l+1].
    """
    depth = row_start.shape[0] - 2
    rows = row_start[depth + 1]
    inputs = row_start[1]
    act = np.zeros((rows, batch), np.float32)
    delta = np.zeros((rows, batch), np.float32)
    label = np.zeros(batch, np.float32)
    grad = np.zeros(n_params, np.float32)
    scale = np.float32(1.0 / batch)
    out_row = rows - 1
    for s in range(steps):
        for p in range(batch):
            point = order[s * batch + p]
            for k in range(inputs):
                act[k, p] = data[point, k]
            label[p] = data[point, inputs]
        for layer in range(depth):
            for r in range(row_start[layer + 1], row_start[layer + 2]):
                b = theta[bias_param[r]] if bias_param[r] >= 0 else _ZERO
                for p in range(batch):
                    act[r, p] = b
            for e in range(edge_start[layer], edge_start[layer + 1]):
                w = theta[edge_param[e]]
                a_in = act[edge_in[e]]
                a_out = act[edge_out[e]]
                for p in range(batch):
                    a_out[p] = a_out[p] + w * a_in[p]
            if layer < depth - 1:
                for r in range(row_start[layer + 1], row_start[layer + 2]):
                    for p in range(batch):
                        if act[r, p] < _ZERO:
                            act[r, p] = _ZERO
        for p in range(batch):
            prob = _ONE / (_ONE + np.float32(math.exp(-act[out_row, p])))
            delta[out_row, p] = (prob - label[p]) * scale
        for k in range(n_params):
            grad[k] = _ZERO
        for layer in range(depth - 1, -1, -1):
            if layer > 0:
                for r in range(row_start[layer], row_start[layer + 1]):
                    for p in range(batch):
                        delta[r, p] = _ZERO
            for e in range(edge_start[layer], edge_start[layer + 1]):
                d_out = delta[edge_out[e]]
                grad[edge_param[e]] = _dot(d_out, act[edge_in[e]], batch)
                if layer > 0:
                    w = theta[edge_param[e]]
                    d_in = delta[edge_in[e]]
                    for p in range(batch):
                        d_in[p] = d_in[p] + w * d_out[p]
            for r in range(row_start[layer + 1], row_start[layer + 2]):
                if bias_param[r] >= 0:
                    grad[bias_param[r]] = _sum(delta[r], batch)
            if layer > 0:
                for r in range(row_start[layer], row_start[layer + 1]):
                    for p in range(batch):
                        if act[r, p] <= _ZERO:
                            delta[r, p] = _ZERO
        for k in range(n_params):
            g = grad[k] + weight_decay * theta[k]
            v = momentum * buffer[k] + g
            buffer[k] = v
            theta[k] = (theta[k] - lr * v) * mask[k]


@numba.njit(parallel=True, cache=True)
def population_steps(
    theta: np.ndarray,
    buffer: np.ndarray,
    mask: np.ndarray,
    n_params: np.ndarray,
    row_start: np.ndarray,
    bias_param: np.ndarray,
    edge_in: np.ndarray,
    edge_out: np.ndarray,
    edge_param: np.ndarray,
    edge_start: np.ndarray,
    data: np.ndarray,
    orders: np.ndarray,
    seeds: np.ndarray,
    epoch: np.int64,
    first: int,
    steps: int,
    batch: int,
    lrs: np.ndarray,
    weight_decay: np.float32,
    momentum: np.float32,
) -> None:
    """`steps` steps of every model m from step `first`: on orders[m] when `orders` has a
    row per model, else on the order of (seeds[m], epoch), made here (data_order's
    "feistel-1"; numba's cache keys on this file alone, so a new order must touch it)."""
    for m in numba.prange(theta.shape[0]):
        if orders.shape[0] == theta.shape[0]:
            order = orders[m, first * batch :]
        else:
            order = np.empty(data.shape[0], np.int32)
            fill_order(order, seeds[m], epoch)
            order = order[first * batch :]
        model_steps(
            theta[m], buffer[m], mask[m], n_params[m], row_start[m], bias_param[m],
            edge_in[m], edge_out[m], edge_param[m], edge_start[m], data, order, steps, batch,
            lrs[m], weight_decay, momentum,
        )  # fmt: skip
