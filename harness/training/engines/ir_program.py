"""Writing and compiling LLVM IR with explicit 16-lane float vectors.

Why IR: LLVM's auto-vectoriser gives up on a whole MLP step and numba has no vector
types, but llvmlite (numba's own LLVM) compiles IR text whose `<16 x float>` operations
are exactly the ones written. `Program` writes one function as text; `compile_function`
turns it into machine code for this CPU. Needs LLVM 15 or later (opaque pointers).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

import llvmlite.binding as llvm
import numpy as np

LANES = 16
V = f"<{LANES} x float>"
VI = f"<{LANES} x i32>"
VB = f"<{LANES} x i1>"
ZERO = "zeroinitializer"
Value = str | tuple[str, ...]
_ALIGN_ATTRIBUTE = llvm.llvm_version_info >= (22,)  # masked gather/scatter's alignment
_ALL = f"{VB} <" + ", ".join(["i1 true"] * LANES) + ">"
_POINTERS = f"<{LANES} x ptr> " + ("align 4 {}" if _ALIGN_ATTRIBUTE else "{}, i32 4")


def splat(x: float) -> str:
    """A constant float32 vector, every lane `x` rounded to float32."""
    bits = struct.unpack("<Q", struct.pack("<d", float(np.float32(x))))[0]
    return "<" + ", ".join([f"float 0x{bits:016X}"] * LANES) + ">"


def int_splat(x: int) -> str:
    return "<" + ", ".join([f"i32 {x}"] * LANES) + ">"


DECLARATIONS = (
    f"declare {V} @llvm.fmuladd.v16f32({V}, {V}, {V})",
    f"declare {V} @llvm.floor.v16f32({V})",
    f"declare {V} @llvm.masked.gather.v16f32.v16p0(<{LANES} x ptr>, "
    + ("" if _ALIGN_ATTRIBUTE else "i32, ")
    + f"{VB}, {V})",
    f"declare void @llvm.masked.scatter.v16f32.v16p0({V}, <{LANES} x ptr>, "
    + ("" if _ALIGN_ATTRIBUTE else "i32, ")
    + f"{VB})",
)


class Program:
    """IR text of one function. A value is an SSA name, or a tuple of names with one per
    interleaved copy of the computation (`copies`); `op` writes one instruction per copy,
    and a plain name stands for the same value in every copy."""

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

    def _each(self, args: Sequence[Value]) -> list[list[str]]:
        if all(isinstance(a, str) for a in args):
            return [list(args)]  # type: ignore[arg-type]
        return [[a if isinstance(a, str) else a[c] for a in args] for c in range(self.copies)]

    def op(self, template: str, *args: Value) -> Value:
        outs = []
        for values in self._each(args):
            out = self.name()
            self.emit(f"{out} = {template.format(*values)}")
            outs.append(out)
        return outs[0] if len(outs) == 1 and all(isinstance(a, str) for a in args) else tuple(outs)

    def do(self, template: str, *args: Value) -> None:
        """An instruction without a result, once per copy."""
        for values in self._each(args):
            self.emit(template.format(*values))

    def fma(self, a: Value, b: Value, c: Value) -> Value:
        return self.op(f"call {V} @llvm.fmuladd.v16f32({V} {{}}, {V} {{}}, {V} {{}})", a, b, c)

    def mul(self, a: Value, b: Value) -> Value:
        return self.op(f"fmul {V} {{}}, {{}}", a, b)

    def add(self, a: Value, b: Value) -> Value:
        return self.op(f"fadd {V} {{}}, {{}}", a, b)

    def choose(self, pred: str, a: Value, b: Value, then: Value, other: Value) -> Value:
        """`then` where `a pred b` holds, else `other` (an ordered predicate fails on NaN)."""
        cond = self.op(f"fcmp {pred} {V} {{}}, {{}}", a, b)
        return self.op(f"select {VB} {{}}, {V} {{}}, {V} {{}}", cond, then, other)

    def relu(self, z: Value) -> Value:
        return self.choose("olt", z, ZERO, ZERO, z)  # NaN passes through, as in torch.relu

    def relu_grad(self, a: Value, g: Value) -> Value:
        return self.choose("ole", a, ZERO, ZERO, g)  # torch's threshold_backward(g, a, 0)

    def ptr(self, base: str, offset: Value, kind: str = "float") -> Value:
        return self.op(f"getelementptr inbounds {kind}, ptr {base}, i64 {{}}", offset)

    def load(self, base: str, offset: Value) -> Value:
        return self.op(f"load {V}, ptr {{}}, align 4", self.ptr(base, offset))

    def store(self, value: Value, base: str, offset: Value, kind: str = V) -> None:
        self.do(f"store {kind} {{}}, ptr {{}}, align 4", value, self.ptr(base, offset))

    def scalar(self, base: str, offset: Value, kind: str = "float") -> Value:
        return self.op(f"load {kind}, ptr {{}}, align 4", self.ptr(base, offset, kind))

    def broadcast(self, scalar: Value) -> Value:
        v = self.op(f"insertelement {V} poison, float {{}}, i64 0", scalar)
        return self.op(f"shufflevector {V} {{}}, {V} poison, <{LANES} x i32> {ZERO}", v)

    def gather(self, base: str, offsets: Value) -> Value:
        """base[offsets[lane]] for every lane (offsets an i32 vector, in floats)."""
        pointers = self.op(f"getelementptr inbounds float, ptr {base}, {VI} {{}}", offsets)
        return self.op(
            f"call {V} @llvm.masked.gather.v16f32.v16p0({_POINTERS}, {_ALL}, {V} poison)", pointers
        )

    def scatter(self, value: str, base: str, offsets: str) -> None:
        """base[offsets[lane]] = value[lane] for every lane."""
        pointers = self.op(f"getelementptr inbounds float, ptr {base}, {VI} {{}}", offsets)
        self.do(
            f"call void @llvm.masked.scatter.v16f32.v16p0({V} {{}}, {_POINTERS}, {_ALL})",
            value,
            pointers,
        )

    def hsum(self, v: str) -> str:
        """The sum of one vector's lanes, halves added pairwise (a fixed tree)."""
        width = LANES
        while width > 1:
            half, kind = width // 2, f"<{width} x float>"
            lo = ", ".join(f"i32 {k}" for k in range(half))
            hi = ", ".join(f"i32 {k + half}" for k in range(half))
            a = self.op(f"shufflevector {kind} {v}, {kind} poison, <{half} x i32> <{lo}>")
            b = self.op(f"shufflevector {kind} {v}, {kind} poison, <{half} x i32> <{hi}>")
            v = self.op(f"fadd <{half} x float> {a}, {b}")  # type: ignore[assignment]
            width = half
        return self.op(f"extractelement <1 x float> {v}, i64 0")  # type: ignore[return-value]

    def lane_sums(self, vectors: Sequence[str]) -> str:
        """The vector whose lane k is the sum of the lanes of vectors[k] (up to 16 of
        them; missing ones count as zero): halves added pairwise, four levels, a fixed
        tree."""
        rows = list(vectors) + [ZERO] * (LANES - len(vectors))
        half = LANES // 2
        while len(rows) > 1:
            # A row holds groups of 2 * half partial sums, one group per parameter.
            groups = LANES // (2 * half)
            low = [j for g in range(groups) for j in range(2 * g * half, 2 * g * half + half)]
            high = [j + half for j in low]
            rows = [
                self.op(f"fadd {V} {{}}, {{}}", self._pick(a, b, low), self._pick(a, b, high))  # type: ignore[misc]
                for a, b in zip(rows[0::2], rows[1::2])
            ]
            half //= 2
        return rows[0]

    def _pick(self, a: str, b: str, from_each: list[int]) -> str:
        mask = ", ".join(f"i32 {j}" for j in from_each + [LANES + j for j in from_each])
        return self.op(f"shufflevector {V} {{}}, {V} {{}}, <{LANES} x i32> <{mask}>", a, b)  # type: ignore[return-value]

    def loop(
        self,
        trip: int | str,
        sums: Sequence[str],
        body: Callable[[str, list[str]], list[str]],
    ) -> list[str]:
        """`for i in range(trip)` (trip >= 1; a constant or an i64 value): `body(i, sums)`
        gets the running sums (started at `sums`) and returns their next values; the
        final values are returned. Bodies may contain loops."""
        before, head = self.block, f"loop{self.count}"
        self.count += 1
        self.emit(f"br label %{head}")
        self.label(head)
        index = f"%{head}.i"
        phi_at = len(self.lines)
        phis = [self.name() for _ in sums]
        new = body(index, phis)
        latch = self.block
        self.lines[phi_at:phi_at] = [
            f"  {index} = phi i64 [ 0, %{before} ], [ %{head}.n, %{latch} ]",
            *(
                f"  {p} = phi {V} [ {s}, %{before} ], [ {n}, %{latch} ]"
                for p, s, n in zip(phis, sums, new)
            ),
        ]
        self.emit(f"%{head}.n = add i64 {index}, 1")
        self.emit(f"%{head}.d = icmp eq i64 %{head}.n, {trip}")
        self.emit(f"br i1 %{head}.d, label %{head}.x, label %{head}")
        self.label(f"{head}.x")
        return new

    def sgd_update(self, offset: str, grad: str, lr: str, wd: str, momentum: str) -> None:
        """torch.optim.SGD on 16 parameters at `offset`, then the mask:
        buf = momentum * buf + (grad + wd * p); p = (p - lr * buf) * mask."""
        p = self.load("%theta", offset)
        buf = self.fma(momentum, self.load("%buffer", offset), self.fma(wd, p, grad))
        self.store(buf, "%buffer", offset)
        lowered = self.fma(self.op(f"fneg {V} {{}}", lr), buf, p)
        self.store(self.mul(lowered, self.load("%mask", offset)), "%theta", offset)


def sigmoid_minus(p: Program, z: Value, y: Value) -> Value:
    """sigmoid(z) - y through a float32 exp (Cephes expf: Cody-Waite reduction and a
    degree-6 polynomial, within 2 ulp), z clamped to +-80 where sigmoid is 0 or 1 to
    float32 round-off (and no denormals appear)."""
    x = p.op(f"fneg {V} {{}}", z)
    hi, lo = splat(80.0), splat(-80.0)
    x = p.choose("ogt", x, hi, hi, x)
    x = p.choose("olt", x, lo, lo, x)
    n = p.fma(x, splat(1.4426950408889634), splat(0.5))
    n = p.op(f"call {V} @llvm.floor.v16f32({V} {{}})", n)
    r = p.fma(n, splat(-0.693359375), x)
    r = p.fma(n, splat(2.12194440e-4), r)
    poly: Value = splat(1.9875691500e-4)
    for c in (1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1):
        poly = p.fma(poly, r, splat(c))
    e = p.add(p.fma(poly, p.mul(r, r), r), splat(1.0))
    n = p.choose("uno", n, n, ZERO, n)  # a NaN stays in `e`; the exponent stays defined
    bits = p.op(f"fptosi {V} {{}} to {VI}", n)
    bits = p.op(f"shl {VI} {{}}, {int_splat(23)}", p.op(f"add {VI} {{}}, {int_splat(127)}", bits))
    e = p.mul(e, p.op(f"bitcast {VI} {{}} to {V}", bits))
    prob = p.op(f"fdiv {V} {splat(1.0)}, {{}}", p.add(e, splat(1.0)))
    return p.op(f"fsub {V} {{}}, {{}}", prob, y)


class _Jit:
    """One MCJIT engine for the process, targeting this CPU."""

    def __init__(self) -> None:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        try:
            features = llvm.get_host_cpu_features().flatten()
        except RuntimeError:  # not every platform can list them; the CPU name still tells
            features = ""
        target = llvm.Target.from_default_triple()
        self.machine = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=features, opt=3, codemodel="jitdefault"
        )
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.machine)
        self.addresses: dict[str, int] = {}

    def address(self, name: str, text: str) -> int:
        if name not in self.addresses:
            module = llvm.parse_assembly(text)
            module.triple = self.machine.triple
            module.data_layout = str(self.machine.target_data)
            module.verify()
            options = llvm.create_pipeline_tuning_options(speed_level=3)
            passes = llvm.create_pass_builder(self.machine, options)
            passes.getModulePassManager().run(module, passes)
            self.engine.add_module(module)
            self.engine.finalize_object()
            self.addresses[name] = self.engine.get_function_address(name)
        return self.addresses[name]


_JIT: _Jit | None = None


def compile_function(name: str, text: str) -> int:
    """The machine-code address of function `name` defined in IR `text` (compiled once
    per process; later calls with the same name return the same address)."""
    global _JIT
    if _JIT is None:
        _JIT = _Jit()
    return _JIT.address(name, text)
