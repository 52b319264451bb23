"""Compacted training: each model of a population on the engine that suits its mask.

Between two callback events a population's masks are fixed, so at every `import_state`
this engine looks at each model's live sub-network (harness.training.engines.live) and
sends the models whose live connections are few next to their dense weights to the
sparse kernel (harness.training.engines.sparse_engine), which trains only those, and the
rest to the dense engine, as a sub-population. A wide network pruned to a few dozen
weights thus trains at the cost of its live weights, and dense phases (a lottery
ticket's first round, IMP before its sparsity bites) stay on the dense engine.

`mode`: `auto` (the rule below), `always` (every model on the sparse kernel, its live
lists), `reference` (every model on the sparse kernel with the dense lists: masked dense
training in the sparse kernel's arithmetic, which `always` equals bit for bit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from harness.training.data_order import epoch_orders
from harness.training.datasets import Dataset
from harness.training.engines.base import Engine, SGDConfig, TrainState
from harness.training.engines.live import live_edge_counts, live_neurons
from harness.training.engines.numba_engine import choose_kernel
from harness.training.engines.sparse_engine import SparseEngine

COMPACTION_MODES = ("auto", "always", "reference", "off")
SPARSE_SHARE = {"layered": 4, "torch": 16}
"""`auto` trains a model sparse when its live connections, times this, are at most its
dense weights; the factor depends on the dense kernel it would otherwise get. Measured on
a 2-core AMD EPYC (Zen 3): per model-epoch the sparse kernel costs about 4 ms plus 0.17 ms
per live connection, the 16-wide layered kernel 0.05 ms per (padded) weight, torch's
batched matmuls at width 256 about 0.011 ms per weight. The fused kernel (tiny networks)
is never beaten: its populations stay dense."""


def sparse_rows(
    state: TrainState, mode: str, batch_size: int = 128
) -> tuple[np.ndarray, list[torch.Tensor] | None]:
    """Which models of `state` the sparse kernel trains, and the population's live
    neurons when finding them was part of the choice (None otherwise)."""
    population = state.population
    everyone = np.arange(population.size)
    if mode == "reference":
        return everyone, None  # dense lists: liveness is not asked
    if mode == "always":
        return everyone, live_neurons(population.weight_masks)
    kind = choose_kernel(population.layer_sizes, batch_size)
    if mode == "off" or kind not in SPARSE_SHARE:
        return everyone[:0], None
    live = live_neurons(population.weight_masks)
    dense_weights = sum(m[0].numel() for m in population.weight_masks)
    edges = live_edge_counts(population.weight_masks, live)
    return everyone[edges * SPARSE_SHARE[kind] <= dense_weights], live


def _select(state: TrainState, rows: np.ndarray) -> TrainState:
    index = torch.as_tensor(rows, device=state.population.device)
    return TrainState(
        state.population.select(rows),
        [v[index].clone() for v in state.weight_momentum],
        [v[index].clone() for v in state.bias_momentum],
        state.step,
        state.epoch,
    )


def _write_rows(state: TrainState, rows: np.ndarray, part: TrainState) -> None:
    index = torch.as_tensor(rows, device=state.population.device)
    full, sub = state.population, part.population
    for dst, src in zip(
        [*full.weights, *full.biases, *state.weight_momentum, *state.bias_momentum],
        [*sub.weights, *sub.biases, *part.weight_momentum, *part.bias_momentum],
        strict=True,
    ):
        dst[index] = src


class CompactedEngine:
    """The Engine protocol over a dense engine and the sparse kernel (see the module)."""

    def __init__(self, dense: Engine, data: Dataset, config: SGDConfig, mode: str = "auto"):
        if mode not in COMPACTION_MODES:
            raise ValueError(f"unknown compaction {mode!r}; choose {', '.join(COMPACTION_MODES)}")
        self.dense = dense
        self.name = dense.name
        self.data = data
        self.config = config
        self.mode = mode
        self.parts: list[tuple[np.ndarray | None, Any, TrainState | None]] = []

    @property
    def sparse_models(self) -> int:
        """Models the sparse kernel trains since the last import."""
        return sum(len(rows) for rows, engine, _ in self.parts if isinstance(engine, SparseEngine))

    @property
    def kernel(self) -> str:
        """What trains the population since the last import: the dense engine's kernel,
        `sparse`, or both ('layered+sparse')."""
        names = [
            "sparse" if isinstance(engine, SparseEngine) else getattr(engine, "kernel", "")
            for _, engine, _ in self.parts
        ]
        return "+".join(name for name in names if name)

    def import_state(self, state: TrainState) -> None:
        sparse, live = sparse_rows(state, self.mode, self.config.batch_size)
        dense = np.setdiff1d(np.arange(state.population.size), sparse)
        self.parts = []
        if len(sparse) == 0:
            self.dense.import_state(state)
            self.parts.append((None, self.dense, None))
            return
        if len(dense):
            part = _select(state, dense)
            self.dense.import_state(part)
            self.parts.append((dense, self.dense, part))
        mine = None if live is None else [layer[torch.as_tensor(sparse)] for layer in live]
        engine = SparseEngine(
            self.data, self.config, sparse, dense=self.mode == "reference", live=mine
        )
        engine.import_state(state)
        self.parts.append((sparse, engine, None))

    def export_state(self, state: TrainState) -> None:
        for rows, engine, part in self.parts:
            if part is None:
                engine.export_state(state)
            else:
                engine.export_state(part)
                _write_rows(state, rows, part)  # type: ignore[arg-type]

    def run_steps(self, orders: np.ndarray, first: int, count: int, lrs: np.ndarray) -> None:
        for rows, engine, _ in self.parts:
            if rows is None:
                engine.run_steps(orders, first, count, lrs)
            else:
                mine = orders if orders.shape[0] == 1 or orders.strides[0] == 0 else orders[rows]
                engine.run_steps(mine, first, count, lrs[rows])

    def run_epoch(self, seeds: np.ndarray, epoch: int, n: int, lrs: np.ndarray) -> None:
        for rows, engine, _ in self.parts:
            own_seeds = seeds if rows is None else seeds[rows]
            own_lrs = lrs if rows is None else lrs[rows]
            if hasattr(engine, "run_epoch"):
                engine.run_epoch(own_seeds, epoch, n, own_lrs)
            else:
                orders = epoch_orders(own_seeds, epoch, n)
                engine.run_steps(orders, 0, n // self.config.batch_size, own_lrs)
