"""The generated training kernels: `steps` SGD steps of one model, as LLVM IR written
per layer-size tuple (see harness.training.engines.ir_program for why IR). One signature:

    void kernel(ptr theta, ptr theta_t, ptr mask, ptr buffer, ptr data, ptr order,
                ptr scratch, i64 steps, float lr, float weight_decay, float momentum)

Step s (steps >= 1) computes the mean BCE-with-logits gradient on points
order[s*B : (s+1)*B] (point p's inputs then label at data[p * row_width :]), then updates
theta and the momentum `buffer` as torch.optim.SGD does and multiplies theta by `mask`.

- `fused` (small networks): lanes are 16 points; the whole network is straight-line
  code, every parameter a broadcast scalar and every gradient sum a register, several
  16-point groups interleaved to hide latency.
- `layered` (wider networks): lanes are a layer's features, hidden widths padded to a
  multiple of 16; the batch goes through one small loop per layer and direction, with
  activations in `scratch`.

Every sum runs in a fixed order that depends only on the model's own parameters and
data, so a model's result is bitwise the same whatever models share its population.
Rounding differs from torch's (fused multiply-adds, own exp), within float32 round-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.training.engines.ir_program import (
    DECLARATIONS,
    LANES,
    VI,
    ZERO,
    Program,
    Value,
    int_splat,
    sigmoid_minus,
    splat,
)

_SIGNATURE = (
    "(ptr noalias %theta, ptr noalias %theta_t, ptr noalias %mask, ptr noalias %buffer, "
    "ptr noalias %data, ptr noalias %order, ptr noalias %scratch_in, i64 %steps, "
    "float %lr, float %wd, float %momentum)"
)


@dataclass(frozen=True)
class Kernel:
    """A generated kernel and where it keeps each parameter.

    theta (like mask and buffer) has `params` floats: weight l's entry [o, i] at
    `weight_pos[l][o, i]`, bias l's entry [o] at `bias_pos[l][o]`, everything else
    padding (mask 0). theta_t has `transposed` floats; the kernel keeps it equal to
    theta[transpose_src] at transpose_dst, and needs it so before the first call.
    `scratch` floats of work space, zeroed before the first call.
    """

    kind: str
    name: str
    ir: str
    params: int
    transposed: int
    scratch: int
    weight_pos: tuple[np.ndarray, ...]
    bias_pos: tuple[np.ndarray, ...]
    transpose_src: np.ndarray
    transpose_dst: np.ndarray


def _padded(count: int) -> int:
    return -(-count // LANES) * LANES


def _name(kind: str, sizes: Sequence[int], batch: int, row_width: int) -> str:
    return f"sparsest_{kind}_{'_'.join(map(str, sizes))}_b{batch}_r{row_width}"


def _define(name: str, p: Program) -> str:
    return "\n".join(
        [*DECLARATIONS, f"define void @{name}{_SIGNATURE} {{", "entry:", *p.lines, "}", ""]
    )


def _hyper(p: Program) -> tuple[str, str, str]:
    lr, wd, momentum = (p.broadcast(f"%{x}") for x in ("lr", "wd", "momentum"))
    return lr, wd, momentum  # type: ignore[return-value]


def fused_kernel(sizes: Sequence[int], batch: int, row_width: int) -> Kernel:
    """Points in lanes; `batch` a multiple of 16."""
    weight_pos, bias_pos, size = [], [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        weight_pos.append(np.arange(size, size + fan_in * fan_out).reshape(fan_out, fan_in))
        size += fan_in * fan_out
        bias_pos.append(np.arange(size, size + fan_out))
        size += fan_out
    groups = batch // LANES
    copies = next(c for c in (8, 4, 2, 1) if groups % c == 0)  # interleaved: hides latency
    depth = len(sizes) - 1
    p = Program(copies)
    lr, wd, momentum = _hyper(p)

    def step(s: str, _: list[str]) -> list[str]:
        order = p.ptr("%order", p.op(f"mul i64 {s}, {batch}"), "i32")
        theta = [p.broadcast(p.scalar("%theta", str(k))) for k in range(size)]
        columns_at = [p.ptr("%data", str(c)) for c in range(sizes[0] + 1)]

        def group(i: str, running: list[str]) -> list[str]:
            base = p.op(f"mul i64 {i}, {copies * LANES}")
            starts = tuple(p.op(f"add i64 {base}, {c * LANES}") for c in range(copies))
            index = p.op(f"load {VI}, ptr {{}}, align 4", p.ptr(order, starts, "i32"))  # type: ignore[arg-type]
            rows = p.op(f"mul nsw {VI} {{}}, {int_splat(row_width)}", index)
            columns = [p.gather(column, rows) for column in columns_at]
            acts, y = [columns[:-1]], columns[-1]
            for layer in range(depth):
                out = []
                for o in range(sizes[layer + 1]):
                    z = theta[bias_pos[layer][o]]
                    for i in range(sizes[layer]):
                        z = p.fma(theta[weight_pos[layer][o, i]], acts[layer][i], z)
                    out.append(p.relu(z) if layer < depth - 1 else z)
                acts.append(out)
            delta = [p.mul(sigmoid_minus(p, acts[depth][0], y), splat(1.0 / batch))]
            new = list(running)

            def accumulate(k: int, a: Value, b: Value | None) -> None:
                for c in range(copies):
                    if b is None:
                        new[k] = p.add(new[k], a[c])  # type: ignore[assignment]
                    else:
                        new[k] = p.fma(a[c], b[c], new[k])  # type: ignore[assignment]

            for layer in range(depth - 1, -1, -1):
                for o in range(sizes[layer + 1]):
                    for i in range(sizes[layer]):
                        accumulate(weight_pos[layer][o, i], delta[o], acts[layer][i])
                    accumulate(bias_pos[layer][o], delta[o], None)
                if layer > 0:
                    back = []
                    for i in range(sizes[layer]):
                        g = p.mul(delta[0], theta[weight_pos[layer][0, i]])
                        for o in range(1, sizes[layer + 1]):
                            g = p.fma(delta[o], theta[weight_pos[layer][o, i]], g)
                        back.append(p.relu_grad(acts[layer][i], g))
                    delta = back
            return new

        sums = p.loop(groups // copies, [ZERO] * size, group)
        for start in range(0, size, LANES):
            grad = p.lane_sums(sums[start : start + LANES])
            p.sgd_update(str(start), grad, lr, wd, momentum)
        return []

    p.loop("%steps", [], step)
    p.emit("ret void")
    name = _name("fused", sizes, batch, row_width)
    empty = np.zeros(0, dtype=np.int64)
    return Kernel(
        "fused",
        name,
        _define(name, p),
        _padded(size),
        0,
        0,
        tuple(weight_pos),
        tuple(bias_pos),
        empty,
        empty,
    )


def layered_kernel(sizes: Sequence[int], batch: int, row_width: int) -> Kernel:
    """Features in lanes; at least one hidden layer; `batch` a multiple of 16.

    Layout: layer 1 transposed, [in][out'] (the forward pass and its gradient both want
    rows over outputs); hidden-to-hidden layers [out'][in'] (rows over inputs, for the
    backward pass) with their transpose in theta_t (for the forward pass); the output
    layer one row [in']. A primed width is padded to a multiple of 16.
    """
    depth = len(sizes) - 1
    if depth < 2 or batch % LANES:
        raise ValueError("the layered kernel needs a hidden layer and a batch of 16k points")
    n = list(sizes)
    width = [n[0], *(_padded(w) for w in n[1:-1]), 1]
    vecs = [0, *(w // LANES for w in width[1:-1]), 0]
    weight_pos, bias_pos, w_off, b_off, t_off = [], [], [], [], []
    src, dst = [], []
    size = transposed = 0
    for layer in range(depth):
        rows_in, rows_out = width[layer], width[layer + 1]
        o, i = np.meshgrid(np.arange(n[layer + 1]), np.arange(n[layer]), indexing="ij")
        w_off.append(size)
        weight_pos.append(size + (i * rows_out + o if layer == 0 else o * rows_in + i))
        t_off.append(transposed)
        if 0 < layer < depth - 1:
            src.append(weight_pos[-1].ravel())
            dst.append((transposed + i * rows_out + o).ravel())
            transposed += rows_in * rows_out
        size += rows_in * rows_out
        b_off.append(size)
        bias_pos.append(size + np.arange(n[layer + 1]))
        size += rows_out
    size = _padded(size)

    regions: dict[str, int] = {}
    scratch = 0
    for key, floats in [
        ("x", batch * n[0]),
        ("y", batch),
        ("z", batch),
        ("dout", batch),
        ("grad", size),
        *((f"{kind}{layer}", batch * width[layer]) for layer in range(1, depth) for kind in "hd"),
    ]:
        regions[key] = scratch
        scratch += _padded(floats)

    copies = 8  # points per loop iteration, interleaved to hide latency
    p = Program(copies)
    p.emit("%scratch.a = ptrtoint ptr %scratch_in to i64")
    p.emit("%scratch.b = add i64 %scratch.a, 63")
    p.emit("%scratch.c = and i64 %scratch.b, -64")
    p.emit("%scratch = inttoptr i64 %scratch.c to ptr")
    lr, wd, momentum = _hyper(p)
    last = depth - 1

    def at(region: str, b: Value, stride: int, plus: int = 0) -> Value:
        """Offset (floats) of point b's row in a scratch region, plus `plus`."""
        return p.op(f"add i64 {{}}, {regions[region] + plus}", p.op(f"mul i64 {{}}, {stride}", b))

    def points(i: str) -> Value:
        base = p.op(f"mul i64 {i}, {copies}")
        return tuple(p.op(f"add i64 {base}, {c}") for c in range(copies))

    def weights(layer: int, row: int, v: int, transposed_copy: bool = False) -> str:
        if transposed_copy:
            offset = t_off[layer] + row * width[layer + 1] + v * LANES
            return p.load("%theta_t", str(offset))  # type: ignore[return-value]
        rows = width[layer + 1] if layer == 0 else width[layer]
        return p.load("%theta", str(w_off[layer] + row * rows + v * LANES))  # type: ignore[return-value]

    def save_grad(value: Value, offset: int) -> None:
        p.store(value, "%scratch", str(regions["grad"] + offset))

    def scalar_at(region: str, b: Value, stride: int, plus: int) -> Value:
        return p.broadcast(p.scalar("%scratch", at(region, b, stride, plus)))

    def forward(layer: int, order: str):  # type: ignore[no-untyped-def]
        def body(i: str, _: list[str]) -> list[str]:
            b = points(i)
            if layer == 0:
                index = p.scalar(order, b, "i32")
                row = p.op(f"mul i64 {{}}, {row_width}", p.op("sext i32 {} to i64", index))
                inputs = []
                for k in range(n[0] + 1):
                    value = p.scalar("%data", p.op(f"add i64 {{}}, {k}", row))
                    region, stride, plus = ("x", n[0], k) if k < n[0] else ("y", 1, 0)
                    p.store(value, "%scratch", at(region, b, stride, plus), "float")
                    if k < n[0]:
                        inputs.append(p.broadcast(value))
            else:
                inputs = [scalar_at(f"h{layer}", b, width[layer], k) for k in range(n[layer])]
            out = []
            for v in range(vecs[layer + 1]):
                z = p.load("%theta", str(b_off[layer] + v * LANES))
                for k, x in enumerate(inputs):
                    z = p.fma(x, weights(layer, k, v, transposed_copy=layer > 0), z)
                out.append(p.relu(z))
                p.store(out[-1], "%scratch", at(f"h{layer + 1}", b, width[layer + 1], v * LANES))
            if layer == last - 1:  # the output unit, one dot product per point
                t = p.mul(weights(last, 0, 0), out[0])
                for v in range(1, len(out)):
                    t = p.fma(weights(last, 0, v), out[v], t)
                total = tuple(p.hsum(t[c]) for c in range(copies))
                bias = p.scalar("%theta", str(b_off[last]))
                p.store(p.op("fadd float {}, {}", total, bias), "%scratch", at("z", b, 1), "float")
            return []

        return body

    def output_error(i: str, running: list[str]) -> list[str]:
        base = p.op(f"mul i64 {i}, {LANES}")
        z = p.load("%scratch", p.op(f"add i64 {{}}, {regions['z']}", base))
        y = p.load("%scratch", p.op(f"add i64 {{}}, {regions['y']}", base))
        g = p.mul(sigmoid_minus(p, z, y), splat(1.0 / batch))
        p.store(g, "%scratch", p.op(f"add i64 {{}}, {regions['dout']}", base))
        return [p.add(running[0], g)]  # type: ignore[list-item]

    def output_layer(i: str, running: list[str]) -> list[str]:
        b = points(i)
        g = scalar_at("dout", b, 1, 0)
        new = list(running)
        for v in range(vecs[last]):
            h = p.load("%scratch", at(f"h{last}", b, width[last], v * LANES))
            for c in range(copies):
                new[v] = p.fma(g[c], h[c], new[v])  # type: ignore[assignment]
            back = p.relu_grad(h, p.mul(g, weights(last, 0, v)))
            p.store(back, "%scratch", at(f"d{last}", b, width[last], v * LANES))
        return new

    def hidden_gradient(layer: int, rows: range, with_bias: bool):  # type: ignore[no-untyped-def]
        ins, outs = vecs[layer], vecs[layer + 1]

        def body(i: str, running: list[str]) -> list[str]:
            b = points(i)
            new = list(running)
            h = [
                p.load("%scratch", at(f"h{layer}", b, width[layer], v * LANES)) for v in range(ins)
            ]
            for r, o in enumerate(rows):
                g = scalar_at(f"d{layer + 1}", b, width[layer + 1], o)
                for v in range(ins):
                    for c in range(copies):
                        new[r * ins + v] = p.fma(g[c], h[v][c], new[r * ins + v])  # type: ignore[assignment]
            if with_bias:
                for v in range(outs):
                    d = p.load("%scratch", at(f"d{layer + 1}", b, width[layer + 1], v * LANES))
                    k = len(rows) * ins + v
                    for c in range(copies):
                        new[k] = p.add(new[k], d[c])  # type: ignore[assignment]
            return new

        return body

    def hidden_delta(layer: int):  # type: ignore[no-untyped-def]
        def body(i: str, _: list[str]) -> list[str]:
            b = points(i)
            gs = [scalar_at(f"d{layer + 1}", b, width[layer + 1], o) for o in range(n[layer + 1])]
            for v in range(vecs[layer]):
                acc = p.mul(gs[0], weights(layer, 0, v))
                for o in range(1, n[layer + 1]):
                    acc = p.fma(gs[o], weights(layer, o, v), acc)
                h = p.load("%scratch", at(f"h{layer}", b, width[layer], v * LANES))
                p.store(
                    p.relu_grad(h, acc), "%scratch", at(f"d{layer}", b, width[layer], v * LANES)
                )
            return []

        return body

    def first_layer(i: str, running: list[str]) -> list[str]:
        b = points(i)
        new = list(running)
        xs = [scalar_at("x", b, n[0], k) for k in range(n[0])]
        for v in range(vecs[1]):
            d = p.load("%scratch", at("d1", b, width[1], v * LANES))
            for c in range(copies):
                for k in range(n[0]):
                    new[k * vecs[1] + v] = p.fma(xs[k][c], d[c], new[k * vecs[1] + v])  # type: ignore[assignment]
                j = n[0] * vecs[1] + v
                new[j] = p.add(new[j], d[c])  # type: ignore[assignment]
        return new

    def update(i: str, _: list[str]) -> list[str]:
        offset = p.op(f"mul i64 {i}, {LANES}")
        grad = p.load("%scratch", p.op(f"add i64 {{}}, {regions['grad']}", offset))
        p.sgd_update(offset, grad, lr, wd, momentum)  # type: ignore[arg-type]
        return []

    def step(s: str, _: list[str]) -> list[str]:
        order = p.ptr("%order", p.op(f"mul i64 {s}, {batch}"), "i32")
        trip = batch // copies
        for layer in range(depth - 1):
            p.loop(trip, [], forward(layer, order))  # type: ignore[arg-type]
        (total,) = p.loop(batch // LANES, [ZERO], output_error)
        p.store(p.hsum(total), "%scratch", str(regions["grad"] + b_off[last]), "float")
        for v, g in enumerate(p.loop(trip, [ZERO] * vecs[last], output_layer)):
            save_grad(g, w_off[last] + v * LANES)
        for layer in range(depth - 2, 0, -1):
            ins, per_tile = vecs[layer], max(1, LANES // vecs[layer])
            for first in range(0, n[layer + 1], per_tile):
                rows = range(first, min(first + per_tile, n[layer + 1]))
                with_bias = first == 0
                count = len(rows) * ins + (vecs[layer + 1] if with_bias else 0)
                sums = p.loop(trip, [ZERO] * count, hidden_gradient(layer, rows, with_bias))
                for r, o in enumerate(rows):
                    for v in range(ins):
                        save_grad(sums[r * ins + v], w_off[layer] + o * width[layer] + v * LANES)
                for v in range(vecs[layer + 1] if with_bias else 0):
                    save_grad(sums[len(rows) * ins + v], b_off[layer] + v * LANES)
            for o in range(n[layer + 1], width[layer + 1]):
                for v in range(ins):
                    save_grad(ZERO, w_off[layer] + o * width[layer] + v * LANES)
            p.loop(trip, [], hidden_delta(layer))
        sums = p.loop(trip, [ZERO] * ((n[0] + 1) * vecs[1]), first_layer)
        for k in range(n[0]):
            for v in range(vecs[1]):
                save_grad(sums[k * vecs[1] + v], w_off[0] + k * width[1] + v * LANES)
        for v in range(vecs[1]):
            save_grad(sums[n[0] * vecs[1] + v], b_off[0] + v * LANES)
        p.loop(size // LANES, [], update)
        for layer in range(1, depth - 1):  # refresh the transposed copies
            for o in range(n[layer + 1]):
                for v in range(vecs[layer]):
                    row = p.load("%theta", str(w_off[layer] + o * width[layer] + v * LANES))
                    lanes = [
                        t_off[layer] + (v * LANES + k) * width[layer + 1] + o for k in range(LANES)
                    ]
                    p.scatter(row, "%theta_t", "<" + ", ".join(f"i32 {x}" for x in lanes) + ">")  # type: ignore[arg-type]
        return []

    p.loop("%steps", [], step)
    p.emit("ret void")
    name = _name("layered", sizes, batch, row_width)
    return Kernel(
        "layered",
        name,
        _define(name, p),
        size,
        transposed,
        scratch + LANES,
        tuple(weight_pos),
        tuple(bias_pos),
        np.concatenate(src) if src else np.zeros(0, dtype=np.int64),
        np.concatenate(dst) if dst else np.zeros(0, dtype=np.int64),
    )
