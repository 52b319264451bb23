"""Which engine and device a run uses. Kept apart from the protocol (engines/base.py) so
that no engine module imports its siblings through the protocol."""

from __future__ import annotations

import os

import torch

from harness.errors import UserError
from harness.training.datasets import Dataset
from harness.training.engines.base import Engine, SGDConfig


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu; cuda without a CUDA device is a UserError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; choose auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


def make_engine(
    name: str,
    data: Dataset,
    config: SGDConfig,
    device: torch.device,
    compaction: str = "auto",
) -> Engine:
    """`auto` picks the numba kernel on CPU and the torch engine elsewhere.

    On the CPU the engine is compacted (harness.training.engines.compacted): models pruned
    far below their dense width train on the sparse kernel at the cost of their live
    weights. `compaction` picks how (`auto`, `always`, `reference`, `off`); on other
    devices only `off` and `auto` (which is off there) are allowed.

    On the CPU torch gets one thread (unless $SPARSEST_TORCH_THREADS says otherwise): the
    harness's torch work is many small ops between kernel calls, and on two cores a
    second torch thread only contends with the kernel's (measured 4-12x slower).
    """
    if device.type == "cpu":
        torch.set_num_threads(int(os.environ.get("SPARSEST_TORCH_THREADS", "1")))
    if name == "auto":
        name = "numba" if device.type == "cpu" else "torch"
    dense = _dense_engine(name, data, config, device)
    if device.type != "cpu" or compaction == "off":
        if compaction not in ("auto", "off"):
            raise ValueError(f"compaction {compaction!r} runs on the CPU only")
        return dense
    from harness.training.engines.compacted import CompactedEngine

    return CompactedEngine(dense, data, config, compaction)


def _dense_engine(name: str, data: Dataset, config: SGDConfig, device: torch.device) -> Engine:
    if name == "torch":
        from harness.training.engines.torch_engine import TorchEngine

        return TorchEngine(data, config, device)
    if name == "numba":
        if device.type != "cpu":
            raise ValueError("the numba engine runs on the CPU only; use --engine torch")
        from harness.training.engines.numba_engine import NumbaEngine

        return NumbaEngine(data, config)
    raise ValueError(f"unknown engine {name!r}; choose auto, torch or numba")


def resolve_engine(name: str, device: torch.device) -> str:
    """`auto`: the numba kernel on CPU when it is installed, else the torch engine."""
    if name != "auto":
        return name
    if device.type != "cpu":
        return "torch"
    try:
        import harness.training.engines.numba_engine  # noqa: F401
    except ImportError:
        return "torch"
    return "numba"
