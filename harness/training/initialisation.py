"""Initial networks, shared by the search and the pruning runs.

The `fixed` init: seed s names one network of width `fixed_width` in every hidden layer
(nn.Linear's default init under seed s), and every structure or mask is cut from its
first d neurons per layer. `derive_seed` turns a description into a seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch

from harness.training.population import default_linear_init


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from a description (fits torch and the int64 data orders)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def fixed_network(
    width: int, depth: int, seed: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The fixed-init network: `depth` hidden layers of `width`, nn.Linear's default init."""
    return default_linear_init((2, *[width] * depth, 1), seed)


def sub_network(
    network: tuple[list[torch.Tensor], list[torch.Tensor]], widths: Sequence[int]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The first d neurons of each hidden layer (same weights): a structure's fixed init."""
    sizes = (2, *widths, 1)
    weights, biases = network
    if len(weights) != len(sizes) - 1:
        raise ValueError(f"structure {tuple(widths)} has another depth than the network")
    ws = [w[:o, :i].clone() for w, i, o in zip(weights, sizes[:-1], sizes[1:], strict=True)]
    bs = [b[:o].clone() for b, o in zip(biases, sizes[1:], strict=True)]
    if any(w.shape != (o, i) for w, i, o in zip(ws, sizes[:-1], sizes[1:], strict=True)):
        raise ValueError(f"structure {tuple(widths)} does not fit in the fixed network")
    return ws, bs
