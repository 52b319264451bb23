"""One stored model, looked at: masks, connectivity, its function over the input plane.

Used by `sparsest show` and the app's model inspector (numpy and rich; no Textual).
A stored run keeps its packed mask and, for widths up to 16, its final weights and
biases, which is all it takes to rebuild the network and evaluate it on the plane.
The decision boundary is drawn two pixels per character ("▀": foreground above,
background below): the background is the model's prediction tinted by its confidence
(orange class 0, blue class 1, as in TensorFlow Playground); pixels holding data
points show the points' class in full colour.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from harness.errors import UserError
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


MAX_VIEW_WEIGHTS = 10_000_000
"""More weights than any stored run has (widths over 16 keep no weights, and sweeps are
far smaller): a record claiming more was edited, and its masks would not fit in memory."""


class CorruptRun(UserError):
    """A stored run whose widths, mask and weights do not fit together (a damaged or
    edited store); the message names the run."""


def model_view(stored: StoredRun) -> ModelView:
    """The run as a network to look at; CorruptRun if its stored parts disagree."""
    record = stored.record
    try:
        return _model_view(record)
    except (ValueError, MemoryError) as error:
        raise CorruptRun(f"corrupt run {record.run_key}: {error}") from None


def _model_view(record: RunRecord) -> ModelView:
    shapes = weight_shapes(record.widths)
    total = sum(o * i for o, i in shapes)
    if min(record.widths, default=1) < 1 or total > MAX_VIEW_WEIGHTS:
        raise ValueError(f"widths {list(record.widths)} ({total} weights) cannot be a stored run")
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
    from harness.training.datasets import load_dataset

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


CLASS_RGB = (np.array([245, 147, 34]), np.array([8, 119, 189]))
PALE = np.array([232, 232, 232])


def _plane(x: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (width x height pixels) covering the points plus 5%."""
    low, high = x.min(axis=0), x.max(axis=0)
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    xs = low[0] + (np.arange(width) + 0.5) * (high[0] - low[0]) / width
    ys = high[1] - (np.arange(height) + 0.5) * (high[1] - low[1]) / height
    return xs, ys


def pixels(
    view: ModelView | None, x: np.ndarray, y: np.ndarray, width: int, height: int
) -> np.ndarray:
    """RGB [height, width, 3] (uint8): prediction background, data points on top."""
    xs, ys = _plane(x, width, height)
    image = np.tile(PALE, (height, width, 1)).astype(float)
    if view is not None:
        grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        logits = view.logits(grid)
        if logits is not None:
            p = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30))).reshape(height, width)
            confidence = np.abs(p - 0.5)[..., None] * 2 * 0.6
            colour = np.where((p >= 0.5)[..., None], CLASS_RGB[1], CLASS_RGB[0])
            image = PALE * (1 - confidence) + colour * confidence
    col = np.clip(((x[:, 0] - xs[0]) / (xs[1] - xs[0]) + 0.5).astype(int), 0, width - 1)
    row = np.clip(((ys[0] - x[:, 1]) / (ys[0] - ys[1]) + 0.5).astype(int), 0, height - 1)
    counts = np.zeros((2, height, width))
    np.add.at(counts, (y.astype(int), row, col), 1)
    has = counts.sum(axis=0) > 0
    majority = counts[1] > counts[0]
    image[has & ~majority] = CLASS_RGB[0] * 0.8
    image[has & majority] = CLASS_RGB[1] * 0.8
    return image.astype(np.uint8)


class BoundaryPicture:
    def __init__(self, image: np.ndarray, caption: str) -> None:
        self.image, self.caption = image, caption

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height, width, _ = self.image.shape
        styles: dict[tuple[int, ...], Style] = {}
        for row in range(0, height - 1, 2):
            for col in range(width):
                key = (*self.image[row, col], *self.image[row + 1, col])
                style = styles.get(key)
                if style is None:
                    style = styles[key] = Style(
                        color=Color.from_rgb(*key[:3]), bgcolor=Color.from_rgb(*key[3:])
                    )
                yield Segment("▀", style)
            yield Segment.line()
        caption = Text(self.caption, style="dim")
        caption.truncate(width)
        yield caption


def network_text(view: ModelView) -> Text:
    """Each weight matrix as a grid: ■ an effective weight, ▪ a disconnected one (kept but
    on no input-output path), · pruned; then the dead hidden neurons per layer."""
    text = Text()
    for layer, (mask, effective) in enumerate(zip(view.masks, view.effective)):
        out, inp = mask.shape
        text.append(f"layer {layer + 1}: {inp} -> {out}, {int(mask.sum())} kept\n", style="bold")
        for r in range(out):
            for c in range(inp):
                if effective[r, c]:
                    text.append("■ ", style="green")
                elif mask[r, c]:
                    text.append("▪ ", style="red")
                else:
                    text.append("· ", style="dim")
            text.append("\n")
    dead = [int(d.sum()) for d in view.dead]
    text.append(
        f"effective weights {view.effective_nnz} of {view.weight_nnz}, "
        f"disconnected {view.disconnected}, dead neurons per layer {dead}\n"
    )
    return text
