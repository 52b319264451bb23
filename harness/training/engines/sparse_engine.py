"""The Engine protocol on the sparse kernel: some rows of a population trained as lists.

`SparseEngine(data, config, rows)` trains the models at `rows` of the state it imports,
each as its live sub-network (harness.training.engines.live), and writes their kept
parameters and momentum back on export; masked weights and biases stay zero and their
momentum is left as it was (unspecified while masked, as for every engine). `dense=True`
trains every weight under its mask instead: the reference compaction is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from harness.training.data_order import fill_orders
from harness.training.datasets import Dataset
from harness.training.engines.base import SGDConfig, TrainState
from harness.training.engines.live import SparseLists, sparse_lists
from harness.training.engines.sparse_kernel import population_steps

_NO_ORDERS = np.zeros((0, 1), dtype=np.int32)


class SparseEngine:
    name = "sparse"

    def __init__(
        self,
        data: Dataset,
        config: SGDConfig,
        rows: Sequence[int] | None = None,
        dense: bool = False,
        live: list[torch.Tensor] | None = None,
    ) -> None:
        self.config = config
        self.table = np.ascontiguousarray(
            np.concatenate([data.x, data.y[:, None]], axis=1), dtype=np.float32
        )
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self.dense = dense
        self.live = live  # the rows' live neurons, if the caller has found them already
        self.lists: SparseLists | None = None

    def _rows(self, state: TrainState) -> np.ndarray:
        return np.arange(state.population.size) if self.rows is None else self.rows

    def _tensors(self, state: TrainState) -> list[list[torch.Tensor]]:
        pop = state.population
        return [
            [*pop.weights, *pop.biases],
            [*state.weight_momentum, *state.bias_momentum],
        ]

    def _global_flat(self, state: TrainState, lists: SparseLists, rows: np.ndarray) -> np.ndarray:
        """Flat indices into the full state tensors (the lists index the selected rows)."""
        params = self._tensors(state)[0]
        numel = np.array([t[0].numel() for t in params], dtype=np.int64)
        per_tensor = np.where(lists.tensor >= 0, numel[np.maximum(lists.tensor, 0)], 0)
        shift = (rows - np.arange(len(rows)))[:, None] * per_tensor
        return lists.flat + shift

    def import_state(self, state: TrainState) -> None:
        rows = self._rows(state)
        masks = [m[torch.as_tensor(rows)] for m in state.population.weight_masks]
        lists = sparse_lists(masks, dense=self.dense, live=self.live)
        self.lists = lists
        self.flat = self._global_flat(state, lists, rows)
        params, moments = self._tensors(state)
        self.theta = self._gather(params, lists)
        self.buffer = self._gather(moments, lists)

    def _gather(self, tensors: list[torch.Tensor], lists: SparseLists) -> np.ndarray:
        out = np.zeros(lists.tensor.shape, dtype=np.float32)
        for t, tensor in enumerate(tensors):
            where = lists.tensor == t
            if where.any():
                out[where] = tensor.detach().reshape(-1).cpu().numpy()[self.flat[where]]
        return out

    def _scatter(self, values: np.ndarray, tensors: list[torch.Tensor]) -> None:
        assert self.lists is not None
        for t, tensor in enumerate(tensors):
            where = self.lists.tensor == t
            if where.any():
                index = torch.as_tensor(self.flat[where], device=tensor.device)
                tensor.view(-1)[index] = torch.as_tensor(values[where], device=tensor.device)

    def export_state(self, state: TrainState) -> None:
        params, moments = self._tensors(state)
        self._scatter(self.theta, params)
        self._scatter(self.buffer, moments)

    def _run(self, orders: np.ndarray, seeds: np.ndarray, epoch: int, first: int,
             count: int, lrs: np.ndarray) -> None:  # fmt: skip
        lists = self.lists
        if lists is None or count <= 0 or self.theta.shape[0] == 0:
            return
        population_steps(
            self.theta, self.buffer, lists.mask, lists.n_params, lists.row_start,
            lists.bias_param, lists.edge_in, lists.edge_out, lists.edge_param,
            lists.edge_start, self.table, orders, np.ascontiguousarray(seeds, np.int64),
            np.int64(epoch), first, count, self.config.batch_size,
            np.ascontiguousarray(lrs, np.float32), np.float32(self.config.weight_decay),
            np.float32(self.config.momentum),
        )  # fmt: skip

    def run_steps(self, orders: np.ndarray, first: int, count: int, lrs: np.ndarray) -> None:
        models = self.theta.shape[0]
        if orders.shape[0] != models:
            orders = np.broadcast_to(orders[:1], (models, orders.shape[1]))
        table = np.ascontiguousarray(orders, dtype=np.int32)
        if (first + count) * self.config.batch_size > table.shape[1]:
            raise ValueError(
                f"orders of shape {orders.shape} do not cover steps {first}..{first + count - 1}"
            )
        self._run(table, np.zeros(models, np.int64), 0, first, count, lrs)

    def run_epoch(self, seeds: np.ndarray, epoch: int, n: int, lrs: np.ndarray) -> None:
        if n != self.table.shape[0]:
            orders = np.empty((len(seeds), n), dtype=np.int32)
            fill_orders(orders, np.ascontiguousarray(seeds, np.int64), np.int64(epoch))
            self.run_steps(orders, 0, n // self.config.batch_size, lrs)
            return
        self._run(_NO_ORDERS, seeds, epoch, 0, n // self.config.batch_size, lrs)
