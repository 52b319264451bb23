"""One stored model, ready to draw: its masks, which weights are effective, which neurons
are dead, and its function over the input plane (numpy; no Textual here)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np

from store.masks import unpack_masks, unpack_weights, weight_shapes
from store.queries import StoredRun
from store.records import RunRecord


@dataclass(frozen=True)
class ModelView:
    """layer_sizes: (2, d1, ..., 1); masks/effective: bool [out, in] per layer; dead: bool
    per hidden neuron, per hidden layer; weights/biases: None when the store kept only
    the mask (widths over 16)."""

    record: RunRecord
    layer_sizes: tuple[int, ...]
    masks: list[np.ndarray]
    effective: list[np.ndarray]
    dead: list[np.ndarray]
    weights: list[np.ndarray] | None
    biases: list[np.ndarray] | None

    @property
    def weight_nnz(self) -> int:
        return int(sum(m.sum() for m in self.masks))

    @property
    def effective_nnz(self) -> int:
        return int(sum(e.sum() for e in self.effective))

    @property
    def disconnected(self) -> int:
        return self.weight_nnz - self.effective_nnz

    def logits(self, points: np.ndarray) -> np.ndarray | None:
        """The model's output logit at each of `points` [N, 2]; None without weights."""
        if self.weights is None or self.biases is None:
            return None
        h = points.astype(np.float32)
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ (w * self.masks[layer]).T + b
            if layer < last:
                h = np.maximum(h, 0.0)
        return h[:, 0]


def connectivity_of(masks: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Effective masks and dead hidden neurons, from algorithms.connectivity (one model)."""
    import torch

    from algorithms.connectivity import connectivity, live_neurons

    tensors = [torch.from_numpy(m[None].copy()) for m in masks]
    links = connectivity(tensors)
    forward, backward = live_neurons(tensors)
    effective = [e[0].numpy() for e in links.effective_masks]
    dead = [~(forward[h][0] & backward[h][0]).numpy() for h in range(1, len(masks))]
    return effective, dead


def model_view(stored: StoredRun) -> ModelView:
    record = stored.record
    shapes = weight_shapes(record.widths)
    sizes = (shapes[0][1], *(o for o, _ in shapes))
    if record.mask is not None:
        masks = [m.astype(bool) for m in unpack_masks(record.mask, shapes)]
    else:
        masks = [np.ones(shape, dtype=bool) for shape in shapes]
    weights = biases = None
    if record.weights is not None:
        interleaved = [s for shape in shapes for s in (shape, (shape[0],))]
        arrays = unpack_weights(record.weights, interleaved)
        weights, biases = arrays[0::2], arrays[1::2]
    effective, dead = connectivity_of(masks)
    return ModelView(record, sizes, masks, effective, dead, weights, biases)


@functools.lru_cache(maxsize=4)
def dataset_points(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's points [N, 2] and labels [N] (standardised, as the models saw them)."""
    from harness.data import load_dataset

    data = load_dataset(name)
    return data.x, data.y


def details(view: ModelView) -> list[tuple[str, str]]:
    """The run's hyper-parameters and metrics as (name, value), names as in `runs`."""
    r = view.record
    hparams = json.loads(r.hparams) if r.hparams else {}
    pairs = [
        ("run_key", r.run_key),
        ("kind", r.kind),
        ("algorithm", r.algorithm),
        ("dataset", r.dataset),
        ("widths", "-".join(map(str, r.widths))),
        ("init_mode", r.init_mode),
        ("seed", str(r.seed)),
        ("lr", f"{r.lr:g}"),
        ("schedule", r.schedule),
        ("epochs", str(r.epochs)),
        ("target_weight_nnz", "—" if r.target_weight_nnz is None else str(r.target_weight_nnz)),
        ("weight_nnz", str(r.weight_nnz)),
        ("model_nnz", str(r.model_nnz)),
        ("effective_nnz", str(r.effective_nnz)),
        ("disconnected", str(view.disconnected)),
        ("dead_neurons", "-".join(map(str, r.dead_neurons))),
        ("accuracy", "diverged" if r.diverged else f"{r.accuracy:.2%}"),
        ("final_loss", f"{r.final_loss:.4g}"),
        ("device", r.device),
        ("wall_seconds", f"{r.wall_seconds:.3g}"),
    ]
    pairs += [(f"hp.{k}", json.dumps(v)) for k, v in sorted(hparams.items())]
    return pairs
