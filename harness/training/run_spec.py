"""Frozen run specifications and the run keys that name them.

A run key is a hash of everything that determines a run's result, seed included, so
writing the same run twice is a no-op and a rerun of a sweep skips what is done.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

INIT_MODES: tuple[str, ...] = ("random", "random-own-width", "fixed")
"""How a run's initial weights are drawn (harness.training.initialisation says how)."""
PRUNE_INIT_MODES: tuple[str, ...] = ("random", "fixed")


def is_seed(network: str | int) -> bool:
    """Whether a fixed-network source is a seed (a seeded network as wide as the search
    asks) rather than a network with widths of its own (a shipped name, a file)."""
    return isinstance(network, int) or str(network).lstrip("-").isdigit()


"""Pruning from width w draws a w-wide network: its `random` is already its own width."""


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one trained model.

    widths: hidden widths; mask: hex of the packed phase-2 mask (None otherwise);
    hparams: sorted (name, value) pairs of the algorithm's hyper-parameters; order: the
    data-order algorithm (harness.training.data_order.ORDER_VERSION), so that results made
    with an earlier order (whose keys lack it) are never taken for this one's.
    """

    kind: str
    algorithm: str
    dataset: str
    widths: tuple[int, ...]
    init_mode: str
    seed: int
    lr: float
    schedule: str
    epochs: int
    target_weight_nnz: int | None = None
    mask: str | None = None
    hparams: tuple[tuple[str, str], ...] = ()
    holdout: float = 0.0
    shared_order: bool = False
    order: str = "feistel-1"

    def run_key(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(payload.encode(), digest_size=10).hexdigest()
