"""A masked MLP's live sub-network, as the lists the sparse kernel trains.

A hidden neuron is *live* when some path of kept weights leads from it to the output; the
others cannot change the output, so their deltas are zero and every parameter on them
(kept incoming weights, the bias of a neuron whose outgoing weights lead only to dead
neurons) moves under weight decay alone. The lists keep every kept parameter (the dead
ones in the parameter row, updated with a zero gradient) but only the live neurons and the
kept weights into live neurons (edges): a constant neuron (no live input, a bias and an
outgoing weight) is live. With `dense`, every neuron is live and every weight and bias is
a parameter (masked ones with mask 0): the kernel then computes masked dense training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.training.population import derive_bias_masks


def live_neurons(weight_masks: list[torch.Tensor]) -> list[torch.Tensor]:
    """[M, width] bool per hidden layer: which neurons reach the output by kept weights."""
    reach = torch.ones(weight_masks[-1].shape[:2], dtype=torch.bool)  # the output
    live = []
    for mask in reversed(weight_masks[1:]):
        reach = (mask.cpu() & reach.unsqueeze(-1)).any(dim=1)
        live.append(reach)
    return live[::-1]


def live_edge_counts(weight_masks: list[torch.Tensor]) -> np.ndarray:
    """[M]: kept weights into live neurons (the output included), per model."""
    live = [*live_neurons(weight_masks), None]
    counts = torch.zeros(weight_masks[0].shape[0], dtype=torch.int64)
    for mask, into in zip(weight_masks, live, strict=True):
        kept = mask.cpu()
        counts += (kept if into is None else kept & into.unsqueeze(-1)).flatten(1).sum(1)
    return counts.numpy()


@dataclass
class SparseLists:
    """The kernel's lists for a population's models, padded per model (see
    harness.training.engines.sparse_kernel.model_steps for their meaning). `tensor` and
    `flat` say where each parameter lives: state tensor `tensor` (weights 0..L-1, then
    biases L..2L-1), flat index `flat` into it (model included); -1 for padding."""

    n_params: np.ndarray  # [M]
    row_start: np.ndarray  # [M, L+2]
    bias_param: np.ndarray  # [M, rows]
    edge_in: np.ndarray  # [M, edges]
    edge_out: np.ndarray
    edge_param: np.ndarray
    edge_start: np.ndarray  # [M, L+1]
    mask: np.ndarray  # [M, params] float32
    tensor: np.ndarray  # [M, params] int64
    flat: np.ndarray  # [M, params] int64

    @property
    def live_params(self) -> np.ndarray:
        """Parameters per model (kept weights and biases, live or decaying)."""
        return self.n_params

    @property
    def edges(self) -> np.ndarray:
        """Live connections per model."""
        return self.edge_start[:, -1]


def _stack(rows: list[np.ndarray], fill: int, dtype: type) -> np.ndarray:
    width = max(1, max((len(r) for r in rows), default=1))
    out = np.full((len(rows), width), fill, dtype=dtype)
    for k, row in enumerate(rows):
        out[k, : len(row)] = row
    return out


def sparse_lists(weight_masks: list[torch.Tensor], dense: bool = False) -> SparseLists:
    """The lists of every model of a population whose weight masks are `weight_masks`."""
    wmasks = [m.cpu().numpy().astype(bool) for m in weight_masks]
    bmasks = [m.cpu().numpy().astype(bool) for m in derive_bias_masks(weight_masks)]
    depth, models = len(wmasks), wmasks[0].shape[0]
    inputs = wmasks[0].shape[2]
    if dense:
        live = [np.ones(w.shape[:2], bool) for w in wmasks[:-1]]
    else:
        live = [t.numpy() for t in live_neurons(weight_masks)]
    numels = [w[0].size for w in wmasks] + [b[0].size for b in bmasks]
    per_model = {key: [] for key in ("rs", "bp", "ei", "eo", "ep", "es", "mk", "tn", "fl", "np")}
    for m in range(models):
        # rows: inputs, then each hidden layer's live neurons, then the output
        alive = [np.ones(inputs, bool), *(lv[m] for lv in live), np.ones(1, bool)]
        counts = [int(a.sum()) for a in alive]
        row_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        row_of = [row_start[k] + np.cumsum(a) - 1 for k, a in enumerate(alive)]
        tensors, flats, masks = [], [], []
        edge_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for layer in range(depth):
            kept = wmasks[layer][m]
            chosen = np.ones_like(kept) if dense else kept
            o, i = np.nonzero(chosen)  # sorted by output, then input
            first = sum(len(f) for f in flats)
            tensors.append(np.full(len(o), layer))
            flats.append(m * numels[layer] + o * kept.shape[1] + i)
            masks.append(kept[o, i].astype(np.float32))
            into_live = alive[layer + 1][o]
            params = first + np.arange(len(o))
            edge_rows.append(
                (row_of[layer][i[into_live]], row_of[layer + 1][o[into_live]], params[into_live])
            )
        bias_param = np.full(row_start[-1], -1, np.int64)
        for layer in range(depth):
            kept = bmasks[layer][m]
            (o,) = np.nonzero(np.ones_like(kept) if dense else kept)
            first = sum(len(f) for f in flats)
            tensors.append(np.full(len(o), depth + layer))
            flats.append(m * numels[depth + layer] + o)
            masks.append(kept[o].astype(np.float32))
            on_live = alive[layer + 1][o]
            bias_param[row_of[layer + 1][o[on_live]]] = first + np.flatnonzero(on_live)
        per_model["rs"].append(row_start)
        per_model["bp"].append(bias_param)
        per_model["ei"].append(np.concatenate([e[0] for e in edge_rows]))
        per_model["eo"].append(np.concatenate([e[1] for e in edge_rows]))
        per_model["ep"].append(np.concatenate([e[2] for e in edge_rows]))
        per_model["es"].append(np.concatenate([[0], np.cumsum([len(e[0]) for e in edge_rows])]))
        per_model["mk"].append(np.concatenate(masks))
        per_model["tn"].append(np.concatenate(tensors))
        per_model["fl"].append(np.concatenate(flats))
        per_model["np"].append(len(per_model["mk"][-1]))
    return SparseLists(
        n_params=np.asarray(per_model["np"], np.int64),
        row_start=np.stack(per_model["rs"]).astype(np.int64),
        bias_param=_stack(per_model["bp"], -1, np.int64),
        edge_in=_stack(per_model["ei"], 0, np.int64),
        edge_out=_stack(per_model["eo"], 0, np.int64),
        edge_param=_stack(per_model["ep"], 0, np.int64),
        edge_start=np.stack(per_model["es"]).astype(np.int64),
        mask=_stack(per_model["mk"], 0, np.float32),
        tensor=_stack(per_model["tn"], -1, np.int64),
        flat=_stack(per_model["fl"], -1, np.int64),
    )
