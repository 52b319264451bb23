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


def live_edge_counts(
    weight_masks: list[torch.Tensor], live: list[torch.Tensor] | None = None
) -> np.ndarray:
    """[M]: kept weights into live neurons (the output included), per model; `live`:
    live_neurons(weight_masks), when the caller has it already."""
    live = [*(live_neurons(weight_masks) if live is None else live), None]
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
    def edges(self) -> np.ndarray:
        """Live connections per model."""
        return self.edge_start[:, -1]


def sparse_lists(
    weight_masks: list[torch.Tensor],
    dense: bool = False,
    live: list[torch.Tensor] | None = None,
) -> SparseLists:
    """The lists of every model of a population whose weight masks are `weight_masks`,
    built for all models at once (a population re-imports at every callback event);
    `live`: live_neurons(weight_masks), when the caller has it already."""
    wmasks = [m.cpu().numpy().astype(bool) for m in weight_masks]
    bmasks = [m.cpu().numpy().astype(bool) for m in derive_bias_masks(weight_masks)]
    depth, models = len(wmasks), wmasks[0].shape[0]
    if dense:
        hidden = [np.ones(w.shape[:2], bool) for w in wmasks[:-1]]
    else:
        hidden = [t.numpy() for t in (live_neurons(weight_masks) if live is None else live)]
    alive = [np.ones((models, wmasks[0].shape[2]), bool), *hidden, np.ones((models, 1), bool)]
    counts = np.stack([a.sum(1) for a in alive], axis=1)
    row_start = np.concatenate([np.zeros((models, 1), np.int64), np.cumsum(counts, 1)], 1)
    row_of = [row_start[:, [k]] + np.cumsum(a, 1) - 1 for k, a in enumerate(alive)]

    # every parameter: weights layer by layer, then biases; (model, order) sorted
    model_ids, tensor_ids, flats, kept, edge_layer, edge_in, edge_out, bias_row = (
        [] for _ in range(8)
    )
    for layer, mask in enumerate(wmasks):
        m, o, i = np.nonzero(np.ones_like(mask) if dense else mask)
        into_live = alive[layer + 1][m, o]
        model_ids.append(m)
        tensor_ids.append(np.full(len(m), layer))
        flats.append((m * mask.shape[1] + o) * mask.shape[2] + i)
        kept.append(mask[m, o, i])
        edge_layer.append(np.where(into_live, layer, -1))
        edge_in.append(row_of[layer][m, i])
        edge_out.append(row_of[layer + 1][m, o])
        bias_row.append(np.full(len(m), -1))
    for layer, mask in enumerate(bmasks):
        m, o = np.nonzero(np.ones_like(mask) if dense else mask)
        model_ids.append(m)
        tensor_ids.append(np.full(len(m), depth + layer))
        flats.append(m * mask.shape[1] + o)
        kept.append(mask[m, o])
        edge_layer.append(np.full(len(m), -1))
        edge_in.append(np.zeros(len(m), np.int64))
        edge_out.append(np.zeros(len(m), np.int64))
        bias_row.append(np.where(alive[layer + 1][m, o], row_of[layer + 1][m, o], -1))
    order = np.argsort(np.concatenate(model_ids), kind="stable")

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts)[order]

    model, tensor, flat = cat(model_ids), cat(tensor_ids), cat(flats)
    mask, layer_of, e_in, e_out, b_row = (
        cat(kept),
        cat(edge_layer),
        cat(edge_in),
        cat(edge_out),
        cat(bias_row),
    )
    n_params = np.bincount(model, minlength=models)
    first = np.concatenate([[0], np.cumsum(n_params)[:-1]])
    rank = np.arange(len(model)) - first[model]

    def padded(where: np.ndarray, column: np.ndarray, values: np.ndarray, width: int,
               fill: float, dtype: type) -> np.ndarray:  # fmt: skip
        out = np.full((models, max(1, width)), fill, dtype=dtype)
        out[model[where], column] = values
        return out

    everything = np.ones(len(model), bool)
    width = int(n_params.max(initial=0))
    edge = layer_of >= 0
    per_layer = np.zeros((models, depth), np.int64)
    np.add.at(per_layer, (model[edge], layer_of[edge]), 1)
    edge_start = np.concatenate([np.zeros((models, 1), np.int64), np.cumsum(per_layer, 1)], 1)
    edge_first = np.concatenate([[0], np.cumsum(edge_start[:, -1])[:-1]])
    edge_rank = np.arange(int(edge.sum())) - edge_first[model[edge]]
    edges_wide = int(edge_start[:, -1].max(initial=0))
    has_bias = b_row >= 0
    bias_param = np.full((models, max(1, int(row_start[:, -1].max()))), -1, np.int64)
    bias_param[model[has_bias], b_row[has_bias]] = rank[has_bias]
    return SparseLists(
        n_params=n_params.astype(np.int64),
        row_start=row_start.astype(np.int64),
        bias_param=bias_param,
        edge_in=padded(edge, edge_rank, e_in[edge], edges_wide, 0, np.int64),
        edge_out=padded(edge, edge_rank, e_out[edge], edges_wide, 0, np.int64),
        edge_param=padded(edge, edge_rank, rank[edge], edges_wide, 0, np.int64),
        edge_start=edge_start,
        mask=padded(everything, rank, mask, width, 0, np.float32),
        tensor=padded(everything, rank, tensor, width, -1, np.int64),
        flat=padded(everything, rank, flat, width, -1, np.int64),
    )
