"""Drawing a stored model without an app: a wide masked-only model, a small full one."""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
from rich.console import Console

from harness.model_view import BoundaryPicture, model_view, pixels
from store.masks import pack_masks, pack_weights, weight_shapes
from store.queries import StoredRun
from store.records import RunRecord
from tui.widgets.network import NetworkPicture


def stored(widths: tuple[int, ...], keep: int, with_weights: bool) -> StoredRun:
    rng = np.random.default_rng(0)
    shapes = weight_shapes(widths)
    masks = [np.zeros(shape, dtype=bool) for shape in shapes]
    for mask in masks:  # one path through the network, then random extra weights
        mask[0, 0] = True
    for _ in range(keep):
        layer = rng.integers(len(masks))
        masks[layer][tuple(rng.integers(s) for s in shapes[layer])] = True
    arrays = [a for (o, i) in shapes for a in (rng.normal(size=(o, i)), rng.normal(size=o))]
    record = RunRecord(
        run_key="k", kind="prune", algorithm="imp", dataset="moons", widths=widths,
        init_mode="random", seed=0, lr=0.1, schedule="cosine", epochs=1, target_weight_nnz=keep,
        weight_nnz=keep, model_nnz=keep, effective_nnz=keep, dead_neurons=(0,) * len(widths),
        accuracy=0.5, final_loss=0.7, diverged=False, device="cpu", wall_seconds=0.1,
        mask=pack_masks(masks), weights=pack_weights(arrays) if with_weights else None,
    )  # fmt: skip
    return StoredRun(record, datetime(2024, 1, 1))


def render(renderable: object, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), record=True)
    console.print(renderable)
    return console.export_text()


def test_a_wide_model_without_weights_draws_its_used_neurons() -> None:
    view = model_view(stored((64, 64, 64), 30, with_weights=False))
    assert view.weights is None and view.logits(np.zeros((3, 2))) is None
    assert view.effective_nnz <= view.weight_nnz
    text = render(NetworkPicture(view, 60, 20), 60)
    assert "+" in text  # neurons left out are counted
    x = np.random.default_rng(1).normal(size=(200, 2))
    image = pixels(view, x, (x[:, 0] > 0).astype(float), 30, 20)
    assert image.shape == (20, 30, 3)


def test_a_small_model_predicts_over_the_plane() -> None:
    view = model_view(stored((3, 3, 3), 10, with_weights=True))
    logits = view.logits(np.array([[0.0, 0.0], [1.0, -1.0]]))
    assert logits is not None and logits.shape == (2,)
    x = np.random.default_rng(1).normal(size=(500, 2))
    image = pixels(view, x, (x[:, 1] > 0).astype(float), 40, 24)
    text = render(BoundaryPicture(image, "caption"), 40)
    assert text.count("▀") == 40 * 12
