"""One stored model, looked at: its masks, connectivity and decision boundary.

Used by `sparsest show` and the app's model inspector. A stored run keeps its packed
mask and its final weights and biases (layer by layer: weight rows, then bias), which
is all it takes to rebuild the network and evaluate it anywhere on the input plane.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch
from rich.text import Text

from algorithms.connectivity import Connectivity, connectivity
from harness.data import Dataset
from store.masks import unpack_masks
from store.records import RunRecord

CLASS_COLOURS = ("#3b6fb6", "#d9822b")  # class 0, class 1
BACKGROUND = ("#1d3557", "#6b3a12")  # the plane where the model predicts 0 / 1


@dataclass(frozen=True)
class StoredModel:
    """A rebuilt network: weights [out, in] and biases per layer, bool weight masks."""

    layer_sizes: tuple[int, ...]
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    masks: list[np.ndarray]

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float32)
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w.T + b
            if layer < len(self.weights) - 1:
                h = np.maximum(h, 0)
        return h[:, 0]

    def connectivity(self) -> Connectivity:
        return connectivity([torch.from_numpy(m).unsqueeze(0) for m in self.masks])


class NotInspectableError(ValueError):
    pass


def model_from_record(record: RunRecord) -> StoredModel:
    """Rebuild a run's network; runs stored without weights (wide ones) cannot be."""
    sizes = (2, *record.widths, 1)
    shapes = [(o, i) for i, o in pairwise(sizes)]
    if record.weights is None or record.mask is None:
        raise NotInspectableError(
            f"run {record.run_key} was stored without its weights (only widths <= 16 keep them)"
        )
    flat = np.frombuffer(record.weights, dtype="<f4")
    expected = sum(o * i + o for o, i in shapes)
    if flat.size != expected:
        raise NotInspectableError(
            f"run {record.run_key}: stored weights have {flat.size} values, expected {expected}"
        )
    weights, biases, at = [], [], 0
    for o, i in shapes:
        weights.append(flat[at : at + o * i].reshape(o, i).copy())
        at += o * i
        biases.append(flat[at : at + o].copy())
        at += o
    return StoredModel(sizes, weights, biases, unpack_masks(record.mask, shapes))


def plane_extent(data: Dataset, margin: float = 0.1) -> tuple[float, float, float, float]:
    lo, hi = data.x.min(axis=0), data.x.max(axis=0)
    pad = (hi - lo) * margin
    return (
        float(lo[0] - pad[0]),
        float(hi[0] + pad[0]),
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    )


def decision_grid(model: StoredModel, data: Dataset, columns: int, rows: int) -> np.ndarray:
    """Predicted class (0/1) over a rows x columns grid of the plane, top row = max y."""
    x0, x1, y0, y1 = plane_extent(data)
    xs = np.linspace(x0, x1, columns)
    ys = np.linspace(y1, y0, rows)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return (model.logits(grid) > 0).reshape(rows, columns).astype(np.int8)


def boundary_text(model: StoredModel, data: Dataset, columns: int = 60, rows: int = 24) -> Text:
    """The decision boundary as half-block characters (two grid rows per text line), the
    background coloured by predicted class and the data points drawn on top."""
    cells = rows * 2
    grid = decision_grid(model, data, columns, cells)
    x0, x1, y0, y1 = plane_extent(data)
    points = np.full((cells, columns), -1, dtype=np.int8)
    col = np.clip(
        ((data.x[:, 0] - x0) / (x1 - x0) * (columns - 1)).round().astype(int), 0, columns - 1
    )
    row = np.clip(((y1 - data.x[:, 1]) / (y1 - y0) * (cells - 1)).round().astype(int), 0, cells - 1)
    points[row, col] = data.y.astype(np.int8)
    text = Text()
    for line in range(rows):
        for c in range(columns):
            top, bottom = 2 * line, 2 * line + 1
            fg = _cell_colour(points[top, c], grid[top, c])
            bg = _cell_colour(points[bottom, c], grid[bottom, c])
            text.append("▀", style=f"{fg} on {bg}")
        text.append("\n")
    return text


def _cell_colour(point: int, predicted: int) -> str:
    return CLASS_COLOURS[point] if point >= 0 else BACKGROUND[predicted]


def network_text(model: StoredModel) -> Text:
    """Each weight matrix as a grid: ■ an effective weight, ▪ a disconnected one (kept but
    on no input-output path), · pruned; dead hidden neurons named per layer."""
    conn = model.connectivity()
    text = Text()
    for layer, (mask, effective) in enumerate(zip(model.masks, conn.effective_masks)):
        o, i = mask.shape
        text.append(f"layer {layer + 1}: {i} -> {o}, {int(mask.sum())} kept\n", style="bold")
        eff = effective[0].numpy()
        for r in range(o):
            for c in range(i):
                if eff[r, c]:
                    text.append("■ ", style="green")
                elif mask[r, c]:
                    text.append("▪ ", style="red")
                else:
                    text.append("· ", style="dim")
            text.append("\n")
    dead = conn.dead_neurons[0].tolist()
    text.append(
        f"effective weights {int(conn.effective_nnz[0])} of {int(conn.weight_nnz[0])}, "
        f"disconnected {int(conn.disconnected[0])}, dead neurons per layer {dead}\n"
    )
    return text
