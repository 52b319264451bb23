"""LLVM IR for one model's gradient on one mini-batch, generated per layer-size tuple.

Why hand-written IR: LLVM's auto-vectoriser gives up on a whole MLP step, and numba has
no vector types, but llvmlite (numba's own LLVM) compiles IR text with explicit
`<16 x float>` vectors exactly as written. Two kernels, one calling convention:

    void kernel(ptr theta, ptr theta_t, ptr grad, ptr data, ptr order, ptr scratch)

writes into `grad` the mean BCE-with-logits gradient of the model `theta` on the batch
`order[0:batch]` (point p is `data[p * row_width :]`: inputs, then the label).

- `fused` (small networks): the 16 lanes are 16 points; the whole network is straight
  line code with every parameter a broadcast scalar and every gradient sum a register,
  several 16-point groups interleaved to hide latency.
- `layered` (wider networks): the lanes are a layer's features (widths padded to 16);
  the batch goes through one small loop per layer and direction, activations in
  `scratch`.

Every sum runs in a fixed order that depends only on the model's own data, so a model's
result is bitwise the same whatever models share its population. Rounding differs from
torch's (fused multiply-adds, a different exp), within float32 round-off.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llvmlite.binding as llvm
import numpy as np

LANES = 16
_V = f"<{LANES} x float>"
_VI = f"<{LANES} x i32>"
_VB = f"<{LANES} x i1>"
_ZERO = "zeroinitializer"
Value = str | tuple[str, ...]


def _splat(x: float) -> str:
    bits = struct.unpack("<Q", struct.pack("<d", float(np.float32(x))))[0]
    return "<" + ", ".join([f"float 0x{bits:016X}"] * LANES) + ">"


def _ivec(x: int) -> str:
    return "<" + ", ".join([f"i32 {x}"] * LANES) + ">"


class Program:
    """IR text of one function. A value is an SSA name, or a tuple of names (one per
    interleaved copy of the computation); `op` writes one instruction per copy."""

    def __init__(self, copies: int = 1) -> None:
        self.copies = copies
        self.lines: list[str] = []
        self.count = 0
        self.block = "entry"

    def name(self) -> str:
        self.count += 1
        return f"%v{self.count}"

    def emit(self, text: str) -> None:
        self.lines.append("  " + text)

    def label(self, block: str) -> None:
        self.lines.append(f"{block}:")
        self.block = block

    def op(self, template: str, *args: Value) -> Value:
        if all(isinstance(a, str) for a in args):
            out = self.name()
            self.emit(f"{out} = {template.format(*args)}")
            return out
        outs = []
        for c in range(self.copies):
            out = self.name()
            self.emit(f"{out} = {template.format(*(a if isinstance(a, str) else a[c] for a in args))}")
            outs.append(out)
        return tuple(outs)

    def fma(self, a: Value, b: Value, c: Value) -> Value:
        return self.op(f"call {_V} @llvm.fmuladd.v16f32({_V} {{}}, {_V} {{}}, {_V} {{}})", a, b, c)

    def mul(self, a: Value, b: Value) -> Value:
        return self.op(f"fmul {_V} {{}}, {{}}", a, b)

    def add(self, a: Value, b: Value) -> Value:
        return self.op(f"fadd {_V} {{}}, {{}}", a, b)

    def choose(self, pred: str, a: Value, b: Value, then: Value, other: Value) -> Value:
        """`then` where `a pred b` holds, else `other` (fcmp predicates: NaN fails o*)."""
        cond = self.op(f"fcmp {pred} {_V} {{}}, {{}}", a, b)
        return self.op(f"select {_VB} {{}}, {_V} {{}}, {_V} {{}}", cond, then, other)

    def relu(self, z: Value) -> Value:
        return self.choose("olt", z, _ZERO, _ZERO, z)  # NaN passes, as torch.relu

    def relu_grad(self, a: Value, g: Value) -> Value:
        return self.choose("ole", a, _ZERO, _ZERO, g)  # torch's threshold_backward

    def ptr(self, base: str, offset: Value, kind: str = "float") -> Value:
        return self.op(f"getelementptr inbounds {kind}, ptr {base}, i64 {{}}", offset)

    def load(self, base: str, offset: Value) -> Value:
        return self.op(f"load {_V}, ptr {{}}, align 4", self.ptr(base, offset))

    def do(self, template: str, *args: Value) -> None:
        """An instruction without a result, once per copy."""
        copies = 1 if all(isinstance(a, str) for a in args) else self.copies
        for c in range(copies):
            self.emit(template.format(*(a if isinstance(a, str) else a[c] for a in args)))

    def store(self, value: Value, base: str, offset: Value, kind: str = _V) -> None:
        self.do(f"store {kind} {{}}, ptr {{}}, align 4", value, self.ptr(base, offset))

    def scalar(self, base: str, offset: Value) -> Value:
        return self.op("load float, ptr {}, align 4", self.ptr(base, offset))

    def broadcast(self, scalar: Value) -> Value:
        v = self.op(f"insertelement {_V} poison, float {{}}, i64 0", scalar)
        return self.op(f"shufflevector {_V} {{}}, {_V} poison, <{LANES} x i32> {_ZERO}", v)

    def hsum(self, v: str) -> str:
        """Sum of a vector's lanes, pairwise (a fixed tree)."""
        width = LANES
        while width > 1:
            half = width // 2
            kind = f"<{width} x float>"
            lo = ", ".join(f"i32 {k}" for k in range(half))
            hi = ", ".join(f"i32 {k + half}" for k in range(half))
            a = self.op(f"shufflevector {kind} {v}, {kind} poison, <{half} x i32> <{lo}>")
            b = self.op(f"shufflevector {kind} {v}, {kind} poison, <{half} x i32> <{hi}>")
            v = self.op(f"fadd <{half} x float> {a}, {b}")
            width = half
        return self.op(f"extractelement <1 x float> {v}, i64 0")  # type: ignore[return-value]

    def loop(
        self, trip: int, sums: Sequence[str], body: Callable[[str, list[str]], list[str]]
    ) -> list[str]:
        """`for i in range(trip)`: `body(i, running)` gets the running sums (started at
        `sums`) and returns their next values; the final values are returned."""
        before, head = self.block, f"loop{self.count}"
        self.count += 1
        self.emit(f"br label %{head}")
        self.label(head)
        index = f"%{head}.i"
        phi_at = len(self.lines)
        phis = [self.name() for _ in sums]
        new = body(index, phis)
        self.lines[phi_at:phi_at] = [
            f"  {index} = phi i64 [ 0, %{before} ], [ %{head}.n, %{head} ]"
        ] + [
            f"  {p} = phi {_V} [ {s}, %{before} ], [ {n}, %{head} ]"
            for p, s, n in zip(phis, sums, new)
        ]
        self.emit(f"%{head}.n = add i64 {index}, 1")
        self.emit(f"%{head}.d = icmp eq i64 %{head}.n, {trip}")
        self.emit(f"br i1 %{head}.d, label %{head}.x, label %{head}")
        self.label(f"{head}.x")
        return new


def sigmoid_minus(p: Program, z: Value, y: Value) -> Value:
    """sigmoid(z) - y with a float32 exp (Cephes expf: Cody-Waite reduction and a degree
    6 polynomial, within 2 ulp); |z| clamped to 80, where sigmoid is 0 or 1 to float32."""
    x = p.op(f"fneg {_V} {{}}", z)
    hi, lo = _splat(80.0), _splat(-80.0)
    x = p.choose("ogt", x, hi, hi, x)
    x = p.choose("olt", x, lo, lo, x)
    n = p.op(
        f"call {_V} @llvm.floor.v16f32({_V} {{}})", p.fma(x, _splat(1.4426950408889634), _splat(0.5))
    )
    r = p.fma(n, _splat(-0.693359375), x)
    r = p.fma(n, _splat(2.12194440e-4), r)
    poly: Value = _splat(1.9875691500e-4)
    for c in (1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1):
        poly = p.fma(poly, r, _splat(c))
    e = p.add(p.fma(poly, p.mul(r, r), r), _splat(1.0))
    n = p.choose("uno", n, n, _ZERO, n)  # NaN stays in `e`; keep the exponent defined
    bits = p.op(f"fptosi {_V} {{}} to {_VI}", n)
    bits = p.op(f"shl {_VI} {{}}, {_ivec(23)}", p.op(f"add {_VI} {{}}, {_ivec(127)}", bits))
    e = p.mul(e, p.op(f"bitcast {_VI} {{}} to {_V}", bits))
    prob = p.op(f"fdiv {_V} {_splat(1.0)}, {{}}", p.add(e, _splat(1.0)))
    return p.op(f"fsub {_V} {{}}, {{}}", prob, y)


GATHER = (
    f"call {_V} @llvm.masked.gather.v16f32.v16p0(<{LANES} x ptr> align 4 {{}}, {_VB} "
    + "<" + ", ".join(["i1 true"] * LANES) + ">"
    + f", {_V} poison)"
    if llvm.llvm_version_info >= (22,)
    else f"call {_V} @llvm.masked.gather.v16f32.v16p0(<{LANES} x ptr> {{}}, i32 4, {_VB} "
    + "<" + ", ".join(["i1 true"] * LANES) + ">"
    + f", {_V} poison)"
)
_DECLARATIONS = (
    f"declare {_V} @llvm.fmuladd.v16f32({_V}, {_V}, {_V})",
    f"declare {_V} @llvm.floor.v16f32({_V})",
    f"declare {_V} @llvm.masked.gather.v16f32.v16p0(<{LANES} x ptr>, "
    + ("" if llvm.llvm_version_info >= (22,) else "i32, ")
    + f"{_VB}, {_V})",
)
_SIGNATURE = "(ptr noalias %theta, ptr noalias %theta_t, ptr noalias %grad, ptr noalias %data, ptr noalias %order, ptr noalias %scratch_in)"


@dataclass(frozen=True)
class Kernel:
    """A generated gradient kernel and where it keeps each parameter.

    `params` floats of theta (and of the gradient, mask and momentum, same layout);
    weight l's entry [o, i] is at `weight_pos[l][o, i]`, bias l's [o] at `bias_pos[l][o]`;
    positions not listed are padding (kept at zero). Before each call theta_t
    (`transposed` floats) must hold theta[transpose_src] at transpose_dst.
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


def _function(name: str, p: Program) -> str:
    return "\n".join([*_DECLARATIONS, f"define void @{name}{_SIGNATURE} {{", "entry:", *p.lines, "}", ""])


def _kernel_name(kind: str, sizes: Sequence[int], batch: int, row_width: int) -> str:
    return f"sparsest_{kind}_{'_'.join(map(str, sizes))}_b{batch}_r{row_width}"


def fused_kernel(sizes: Sequence[int], batch: int, row_width: int) -> Kernel:
    """Points in lanes; `batch` must be a multiple of 16."""
    weight_pos, bias_pos, size = [], [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        weight_pos.append(np.arange(size, size + fan_in * fan_out).reshape(fan_out, fan_in))
        size += fan_in * fan_out
        bias_pos.append(np.arange(size, size + fan_out))
        size += fan_out
    groups = batch // LANES
    copies = next(c for c in (4, 2, 1) if groups % c == 0)
    p = Program(copies)
    theta = [p.broadcast(p.scalar("%theta", str(k))) for k in range(size)]
    depth = len(sizes) - 1

    def body(i: str, running: list[str]) -> list[str]:
        base = p.op(f"mul i64 {i}, {copies * LANES}")
        starts = tuple(p.op(f"add i64 {base}, {c * LANES}") for c in range(copies))
        index = p.op(f"load {_VI}, ptr {{}}, align 4", p.ptr("%order", starts, "i32"))
        rows = p.op(f"mul nsw {_VI} {{}}, {_ivec(row_width)}", index)

        def column(col: int) -> Value:
            offsets = p.op(f"add nsw {_VI} {{}}, {_ivec(col)}", rows)
            return p.op(GATHER, p.op(f"getelementptr inbounds float, ptr %data, {_VI} {{}}", offsets))

        acts = [[column(c) for c in range(sizes[0])]]
        y = column(sizes[0])
        for layer in range(depth):
            out = []
            for o in range(sizes[layer + 1]):
                z = theta[bias_pos[layer][o]]
                for i in range(sizes[layer]):
                    z = p.fma(theta[weight_pos[layer][o, i]], acts[layer][i], z)
                out.append(p.relu(z) if layer < depth - 1 else z)
            acts.append(out)
        delta = [p.mul(sigmoid_minus(p, acts[depth][0], y), _splat(1.0 / batch))]
        new = list(running)

        def accumulate(k: int, a: Value, b: Value | None) -> None:
            for c in range(copies):
                if b is None:
                    new[k] = p.op(f"fadd {_V} {{}}, {{}}", new[k], a[c])
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

    sums = p.loop(groups // copies, [_ZERO] * size, body)
    for k, total in enumerate(sums):
        p.store(p.hsum(total), "%grad", str(k), "float")
    p.emit("ret void")
    name = _kernel_name("fused", sizes, batch, row_width)
    empty = np.zeros(0, dtype=np.int64)
    return Kernel("fused", name, _function(name, p), size, 0, 0, tuple(weight_pos), tuple(bias_pos), empty, empty)


class _Jit:
    """One MCJIT engine for the process, targeting this CPU; kernels compile once."""

    def __init__(self) -> None:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple()
        self.machine = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(),
            features=llvm.get_host_cpu_features().flatten(),
            opt=3,
            codemodel="jitdefault",
        )
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.machine)
        self.addresses: dict[str, int] = {}

    def address(self, kernel: Kernel) -> int:
        if kernel.name not in self.addresses:
            module = llvm.parse_assembly(kernel.ir)
            module.triple = self.machine.triple
            module.data_layout = str(self.machine.target_data)
            module.verify()
            builder = llvm.create_pass_builder(
                self.machine, llvm.create_pipeline_tuning_options(speed_level=3)
            )
            builder.getModulePassManager().run(module, builder)
            self.engine.add_module(module)
            self.engine.finalize_object()
            self.addresses[kernel.name] = self.engine.get_function_address(kernel.name)
        return self.addresses[kernel.name]


_JIT: _Jit | None = None


def compile_kernel(kernel: Kernel) -> int:
    """The machine-code address of `kernel` (compiled on first use)."""
    global _JIT
    if _JIT is None:
        _JIT = _Jit()
    return _JIT.address(kernel)


def _padded(width: int) -> int:
    return -(-width // LANES) * LANES


def layered_kernel(sizes: Sequence[int], batch: int, row_width: int) -> Kernel:
    """Features in lanes, hidden widths padded to a multiple of 16; at least one hidden
    layer; `batch` a multiple of 16.

    Layout: layer 1 as its transpose [in][out'] (the forward pass wants rows over
    outputs; its gradient is accumulated that way too), hidden-to-hidden layers as
    [out'][in'] (rows over inputs, for the backward pass) plus their transpose in
    theta_t (for the forward pass), the output layer as one row [in'].
    """
    depth = len(sizes) - 1
    if depth < 2 or batch % LANES:
        raise ValueError("the layered kernel needs a hidden layer and a batch of 16k")
    n = list(sizes)
    width = [n[0], *(_padded(w) for w in n[1:-1]), 1]
    vecs = [0, *(w // LANES for w in width[1:-1]), 0]
    weight_pos, bias_pos, w_off, b_off = [], [], [], []
    src, dst, t_off = [], [], []
    size = transposed = 0
    for layer in range(depth):
        fan_in, fan_out = n[layer], n[layer + 1]
        rows_out, rows_in = width[layer + 1], width[layer]
        o, i = np.meshgrid(np.arange(fan_out), np.arange(fan_in), indexing="ij")
        w_off.append(size)
        if layer == 0:
            weight_pos.append(size + i * rows_out + o)
        else:
            weight_pos.append(size + o * rows_in + i)
        if 0 < layer < depth - 1:
            t_off.append(transposed)
            src.append(weight_pos[-1].ravel())
            dst.append((transposed + i * rows_out + o).ravel())
            transposed += rows_in * rows_out
        else:
            t_off.append(-1)
        size += rows_in * rows_out
        b_off.append(size)
        bias_pos.append(size + np.arange(fan_out))
        size += rows_out

    regions: dict[str, int] = {}
    scratch = 0
    for key, floats in [("x", batch * n[0]), ("y", batch), ("z", batch), ("dout", batch)] + [
        (f"{kind}{layer}", batch * width[layer]) for layer in range(1, depth) for kind in "hd"
    ]:
        regions[key] = scratch
        scratch += _padded(floats)

    copies = 8
    p = Program(copies)
    p.emit("%scratch.a = ptrtoint ptr %scratch_in to i64")
    p.emit("%scratch.b = add i64 %scratch.a, 63")
    p.emit("%scratch.c = and i64 %scratch.b, -64")
    p.emit("%scratch = inttoptr i64 %scratch.c to ptr")

    def at(region: str, b: Value, stride: int, plus: int = 0) -> Value:
        """Offset of point b's row in a scratch region (floats)."""
        return p.op(f"add i64 {{}}, {regions[region] + plus}", p.op(f"mul i64 {{}}, {stride}", b))

    def points(i: str) -> Value:
        base = p.op(f"mul i64 {i}, {copies}")
        return tuple(p.op(f"add i64 {base}, {c}") for c in range(copies))

    def weights(layer: int, row: int, v: int, transposed_copy: bool = False) -> str:
        if transposed_copy:
            return p.load("%theta_t", str(t_off[layer] + row * width[layer + 1] + v * LANES))  # type: ignore[return-value]
        rows = width[layer + 1] if layer == 0 else width[layer]
        return p.load("%theta", str(w_off[layer] + row * rows + v * LANES))  # type: ignore[return-value]

    def bias(layer: int, v: int) -> str:
        return p.load("%theta", str(b_off[layer] + v * LANES))  # type: ignore[return-value]

    def logit(h: list[Value]) -> Value:
        t = p.mul(weights(depth - 1, 0, 0), h[0])
        for v in range(1, len(h)):
            t = p.fma(weights(depth - 1, 0, v), h[v], t)
        total = tuple(p.hsum(t[c]) for c in range(copies))
        last = p.scalar("%theta", str(b_off[depth - 1]))
        return p.op("fadd float {}, {}", total, last)

    def forward(layer: int) -> Callable[[str, list[str]], list[str]]:
        def body(i: str, running: list[str]) -> list[str]:
            b = points(i)
            if layer == 0:
                index = p.op("load i32, ptr {}, align 4", p.ptr("%order", b, "i32"))
                row = p.op(f"mul i64 {{}}, {row_width}", p.op("sext i32 {} to i64", index))
                inputs = []
                for k in range(n[0] + 1):
                    value = p.scalar("%data", p.op(f"add i64 {{}}, {k}", row))
                    if k < n[0]:
                        p.store(value, "%scratch", at("x", b, n[0], k), "float")
                        inputs.append(p.broadcast(value))
                    else:
                        p.store(value, "%scratch", at("y", b, 1), "float")
            else:
                source = at(f"h{layer}", b, width[layer])
                inputs = [
                    p.broadcast(p.scalar("%scratch", p.op(f"add i64 {{}}, {k}", source)))
                    for k in range(n[layer])
                ]
            out = []
            for v in range(vecs[layer + 1]):
                z = bias(layer, v)
                for k, x in enumerate(inputs):
                    z = p.fma(x, weights(layer, k, v, transposed_copy=layer > 0), z)
                out.append(p.relu(z))
                p.store(out[-1], "%scratch", at(f"h{layer + 1}", b, width[layer + 1], v * LANES))
            if layer == depth - 2:
                p.store(logit(out), "%scratch", at("z", b, 1), "float")
            return []

        return body

    for layer in range(depth - 1):
        p.loop(batch // copies, [], forward(layer))

    def output_error(i: str, running: list[str]) -> list[str]:
        base = p.op(f"mul i64 {i}, {LANES}")
        z = p.load("%scratch", p.op(f"add i64 {{}}, {regions['z']}", base))
        y = p.load("%scratch", p.op(f"add i64 {{}}, {regions['y']}", base))
        g = p.mul(sigmoid_minus(p, z, y), _splat(1.0 / batch))
        p.store(g, "%scratch", p.op(f"add i64 {{}}, {regions['dout']}", base))
        return [p.add(running[0], g)]

    (total,) = p.loop(batch // LANES, [_ZERO], output_error)
    p.store(p.hsum(total), "%grad", str(b_off[depth - 1]), "float")

    last = depth - 1
    h_last = f"h{last}"

    def output_layer(i: str, running: list[str]) -> list[str]:
        b = points(i)
        g = p.broadcast(p.scalar("%scratch", at("dout", b, 1)))
        new = list(running)
        for v in range(vecs[last]):
            h = p.load("%scratch", at(h_last, b, width[last], v * LANES))
            for c in range(copies):
                new[v] = p.fma(g[c], h[c], new[v])  # type: ignore[assignment]
            back = p.relu_grad(h, p.mul(g, weights(last, 0, v)))
            p.store(back, "%scratch", at(f"d{last}", b, width[last], v * LANES))
        return new

    sums = p.loop(batch // copies, [_ZERO] * vecs[last], output_layer)
    for v, s in enumerate(sums):
        p.store(s, "%grad", str(w_off[last] + v * LANES))

    for layer in range(depth - 2, 0, -1):
        # layer maps h{layer} (width[layer]) to d{layer + 1} (width[layer + 1]).
        ins, outs = vecs[layer], vecs[layer + 1]
        per_tile = max(1, LANES // ins)
        for first in range(0, n[layer + 1], per_tile):
            rows = range(first, min(first + per_tile, n[layer + 1]))
            with_bias = first == 0

            def gradient(i: str, running: list[str], rows: range = rows, bias_too: bool = with_bias) -> list[str]:
                b = points(i)
                new = list(running)
                h = [p.load("%scratch", at(f"h{layer}", b, width[layer], v * LANES)) for v in range(ins)]
                deltas = at(f"d{layer + 1}", b, width[layer + 1])
                for r, o in enumerate(rows):
                    g = p.broadcast(p.scalar("%scratch", p.op(f"add i64 {{}}, {o}", deltas)))
                    for v in range(ins):
                        for c in range(copies):
                            new[r * ins + v] = p.fma(g[c], h[v][c], new[r * ins + v])  # type: ignore[assignment]
                if bias_too:
                    for v in range(outs):
                        d = p.load("%scratch", p.op(f"add i64 {{}}, {v * LANES}", deltas))
                        for c in range(copies):
                            k = len(rows) * ins + v
                            new[k] = p.op(f"fadd {_V} {{}}, {{}}", new[k], d[c])  # type: ignore[assignment]
                return new

            count = len(rows) * ins + (outs if with_bias else 0)
            sums = p.loop(batch // copies, [_ZERO] * count, gradient)
            for r, o in enumerate(rows):
                for v in range(ins):
                    p.store(sums[r * ins + v], "%grad", str(w_off[layer] + o * width[layer] + v * LANES))
            if with_bias:
                for v in range(outs):
                    p.store(sums[len(rows) * ins + v], "%grad", str(b_off[layer] + v * LANES))
        for o in range(n[layer + 1], width[layer + 1]):
            for v in range(ins):
                p.store(_ZERO, "%grad", str(w_off[layer] + o * width[layer] + v * LANES))

        def delta(i: str, running: list[str], layer: int = layer) -> list[str]:
            b = points(i)
            deltas = at(f"d{layer + 1}", b, width[layer + 1])
            gs = [
                p.broadcast(p.scalar("%scratch", p.op(f"add i64 {{}}, {o}", deltas)))
                for o in range(n[layer + 1])
            ]
            for v in range(vecs[layer]):
                acc = p.mul(gs[0], weights(layer, 0, v))
                for o in range(1, n[layer + 1]):
                    acc = p.fma(gs[o], weights(layer, o, v), acc)
                h = p.load("%scratch", at(f"h{layer}", b, width[layer], v * LANES))
                p.store(p.relu_grad(h, acc), "%scratch", at(f"d{layer}", b, width[layer], v * LANES))
            return []

        p.loop(batch // copies, [], delta)

    def first_layer(i: str, running: list[str]) -> list[str]:
        b = points(i)
        new = list(running)
        xs = [p.broadcast(p.scalar("%scratch", at("x", b, n[0], k))) for k in range(n[0])]
        for v in range(vecs[1]):
            d = p.load("%scratch", at("d1", b, width[1], v * LANES))
            for c in range(copies):
                for k in range(n[0]):
                    new[k * vecs[1] + v] = p.fma(xs[k][c], d[c], new[k * vecs[1] + v])  # type: ignore[assignment]
                j = n[0] * vecs[1] + v
                new[j] = p.op(f"fadd {_V} {{}}, {{}}", new[j], d[c])  # type: ignore[assignment]
        return new

    sums = p.loop(batch // copies, [_ZERO] * ((n[0] + 1) * vecs[1]), first_layer)
    for k in range(n[0]):
        for v in range(vecs[1]):
            p.store(sums[k * vecs[1] + v], "%grad", str(w_off[0] + k * width[1] + v * LANES))
    for v in range(vecs[1]):
        p.store(sums[n[0] * vecs[1] + v], "%grad", str(b_off[0] + v * LANES))
    p.emit("ret void")
    name = _kernel_name("layered", sizes, batch, row_width)
    return Kernel(
        "layered",
        name,
        _function(name, p),
        size,
        transposed,
        scratch + LANES,
        tuple(weight_pos),
        tuple(bias_pos),
        np.concatenate(src) if src else np.zeros(0, dtype=np.int64),
        np.concatenate(dst) if dst else np.zeros(0, dtype=np.int64),
    )
