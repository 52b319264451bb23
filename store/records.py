"""The rows the store keeps, as typed records shared by the harness and the store."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunRecord:
    """One trained model: one row of `runs` (and, with `mask`/`weights`, of `masks`).

    widths: hidden widths (d1, d2, d3, ...); dead_neurons: per hidden layer.
    mask: packed 0/1 bits of every weight, layer by layer, row-major (numpy packbits);
    weights: final weights and biases as float32 bytes (kept for widths <= 16).
    """

    run_key: str
    kind: str  # search-phase1 | search-phase2 | prune
    algorithm: str  # "dense" (phase 1), "mask" (phase 2) or a pruning algorithm
    dataset: str
    widths: tuple[int, ...]
    init_mode: str  # random | fixed
    seed: int
    lr: float
    schedule: str
    epochs: int
    target_weight_nnz: int | None
    weight_nnz: int
    model_nnz: int
    effective_nnz: int
    dead_neurons: tuple[int, ...]
    accuracy: float
    final_loss: float
    diverged: bool
    device: str
    wall_seconds: float
    sweep_id: int | None = None
    hparams: str = "{}"  # JSON of the algorithm's non-default hyper-parameters
    mask: bytes | None = field(default=None, repr=False)
    weights: bytes | None = field(default=None, repr=False)
