"""Initial networks, shared by the search and the pruning runs.

Three conventions (harness.training.run_spec.INIT_MODES):
- `random`: a fresh network per run from its init seed. In the search, as the paper's
  reference code does it: a `cut_width`-wide network (2-16-16-16-1 for the paper) drawn
  with nn.Linear's default init and cut to the structure (the first d neurons of each
  hidden layer), so hidden layers start with fan-in 16. Pruning runs from width w draw a
  w-wide network (cut width 0: the run's own widths), as the reference does.
- `random-own-width`: the search's structure drawn at its own widths (fan-in d); what
  Sparsest did before it followed the reference.
- `fixed`: one network for every run, cut to each structure: the paper's own
  (`paper-95`, `paper-995`, shipped with the package), one seeded network of
  `fixed_width` (nn.Linear's default init under that seed), or an `.npz` file of the
  same layout as the shipped ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from harness.errors import UserError
from harness.training.population import default_linear_init
from harness.training.run_spec import is_seed

Network = tuple[list[torch.Tensor], list[torch.Tensor]]

PAPER_NETWORKS: dict[str, str] = {
    "paper-95": "344abfbc8f89786c",
    "paper-995": "14d8e72544ff84c3",
}
"""The reference's fixed initialisations (its 95% and 99.5% studies, 2-16-16-16-1) and
the first 16 hex digits of the SHA-256 of their arrays' bytes in sorted key order."""


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from a description (fits torch and the int64 data orders)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def fixed_network(width: int, depth: int, seed: int) -> Network:
    """A seeded network: `depth` hidden layers of `width`, nn.Linear's default init."""
    return default_linear_init((2, *[width] * depth, 1), seed)


def network_checksum(arrays: dict[str, np.ndarray]) -> str:
    """The first 16 hex digits of the SHA-256 of the arrays' bytes in sorted key order."""
    digest = hashlib.sha256(b"".join(arrays[k].tobytes() for k in sorted(arrays)))
    return digest.hexdigest()[:16]


def _read_npz(source: Path | object) -> dict[str, np.ndarray]:
    with np.load(source) as data:  # type: ignore[arg-type]
        return {key: np.asarray(data[key], dtype=np.float32) for key in data.files}


def _as_network(arrays: dict[str, np.ndarray], where: str) -> Network:
    layers = len([k for k in arrays if k.startswith("w")])
    keys = [f"{p}{n}" for n in range(1, layers + 1) for p in ("w", "b")]
    if layers < 2 or sorted(keys) != sorted(arrays):
        raise UserError(
            f"{where}: expected arrays w1, b1, ..., wL, bL (L >= 2), got {sorted(arrays)}"
        )
    weights = [torch.from_numpy(arrays[f"w{n}"].copy()) for n in range(1, layers + 1)]
    biases = [torch.from_numpy(arrays[f"b{n}"].copy()) for n in range(1, layers + 1)]
    for n, (w, b) in enumerate(zip(weights, biases, strict=True)):
        previous = 2 if n == 0 else weights[n - 1].shape[0]
        if w.dim() != 2 or w.shape[1] != previous or b.shape != (w.shape[0],):
            raise UserError(f"{where}: layer {n + 1} has shapes {tuple(w.shape)}, {tuple(b.shape)}")
    if weights[-1].shape[0] != 1:
        raise UserError(f"{where}: the last layer must have one output")
    return weights, biases


def paper_network(name: str) -> Network:
    """One of the reference's fixed networks, checked against its checksum."""
    if name not in PAPER_NETWORKS:
        raise UserError(f"unknown network {name!r}; choose from {', '.join(PAPER_NETWORKS)}")
    data = resources.files("harness.training.networks") / f"{name}.npz"
    with resources.as_file(data) as path:
        arrays = _read_npz(path)
    if network_checksum(arrays) != PAPER_NETWORKS[name]:
        raise UserError(f"the shipped network {name} does not match its checksum")
    return _as_network(arrays, name)


def network_file(path: str) -> tuple[Network, str]:
    """A network from an `.npz` file of the shipped layout, and its checksum."""
    try:
        arrays = _read_npz(Path(path))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read network {path}: {error}") from None
    return _as_network(arrays, path), network_checksum(arrays)


def load_network(source: str, width: int, depth: int) -> Network:
    """A fixed network by name: `paper-95` / `paper-995`, an integer seed (a `width`-wide
    seeded network), or a path to an `.npz` file."""
    if source in PAPER_NETWORKS:
        return paper_network(source)
    if is_seed(source):
        return fixed_network(width, depth, int(source))
    return network_file(source)[0]


def network_label(source: str) -> str:
    """What names a fixed network in a run key: the name or seed as given, a file by its
    checksum (so moving the file does not change the runs it names)."""
    if source in PAPER_NETWORKS or is_seed(source):
        return source
    return f"sha256:{network_file(source)[1]}"


def network_width(source: str, width: int, depth: int = 3) -> int:
    """The widest structure a fixed network can hold: its narrowest hidden layer (a
    seeded network: `width`)."""
    if is_seed(source):
        return width
    return min(int(w.shape[0]) for w in load_network(source, width, depth)[0][:-1])


def sub_network(network: Network, widths: Sequence[int]) -> Network:
    """The first d neurons of each hidden layer (same weights): a structure cut from a
    wider network, as the reference slices `[:d_out, :d_in]`."""
    sizes = (2, *widths, 1)
    weights, biases = network
    if len(weights) != len(sizes) - 1:
        raise ValueError(f"structure {tuple(widths)} has another depth than the network")
    ws = [w[:o, :i].clone() for w, i, o in zip(weights, sizes[:-1], sizes[1:], strict=True)]
    bs = [b[:o].clone() for b, o in zip(biases, sizes[1:], strict=True)]
    if any(w.shape != (o, i) for w, i, o in zip(ws, sizes[:-1], sizes[1:], strict=True)):
        raise ValueError(f"structure {tuple(widths)} does not fit in the fixed network")
    return ws, bs
