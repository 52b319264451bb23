"""Builds the app over a small store of fixed content, for snapshot tests and demos.

Everything in the store is derived from fixed seeds and fixed timestamps, so every
screen renders the same on every run. `python -m tests.tui.snapshot_app DIR` opens it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import duckdb
import numpy as np

from harness.model_view import connectivity_of
from store.db import ResultsStore
from store.masks import pack_masks, pack_weights, weight_shapes
from store.records import RunRecord
from tui.app import SparsestApp, make_app

FIXED_TIME = "2024-07-01 12:00:00"
ALGORITHMS = ("imp", "lth", "snip", "synflow")
TARGET_NNZ = (15, 20, 26, 40)


def _key(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()


def _mask(rng: np.random.Generator, widths: tuple[int, ...], nnz: int | None) -> list[np.ndarray]:
    shapes = weight_shapes(widths)
    total = sum(o * i for o, i in shapes)
    flat = np.ones(total, dtype=bool)
    if nnz is not None:
        flat[:] = False
        flat[rng.choice(total, size=min(nnz, total), replace=False)] = True
    out, start = [], 0
    for o, i in shapes:
        out.append(flat[start : start + o * i].reshape(o, i))
        start += o * i
    return out


def _record(
    rng: np.random.Generator, kind: str, algorithm: str, widths: tuple[int, ...], nnz: int | None,
    accuracy: float, seed: int, sweep_id: int,
) -> RunRecord:  # fmt: skip
    masks = _mask(rng, widths, nnz)
    shapes = weight_shapes(widths)
    arrays: list[np.ndarray] = []
    for (o, i), m in zip(shapes, masks):
        arrays += [
            rng.normal(0, 1.5, size=(o, i)).astype(np.float32) * m,
            rng.normal(0, 0.5, size=o).astype(np.float32),
        ]
    effective_masks, dead_masks = connectivity_of(masks)
    effective = int(sum(e.sum() for e in effective_masks))
    dead = tuple(int(d.sum()) for d in dead_masks)
    weight_nnz = int(sum(m.sum() for m in masks))
    return RunRecord(
        run_key=_key(kind, algorithm, widths, nnz, seed), kind=kind, algorithm=algorithm,
        dataset="cubist-spiral", widths=widths, init_mode="random", seed=seed, lr=0.1,
        schedule="cosine", epochs=50, target_weight_nnz=nnz if kind == "prune" else None,
        weight_nnz=weight_nnz, model_nnz=weight_nnz + sum(widths) + 1, effective_nnz=effective,
        dead_neurons=dead, accuracy=accuracy, final_loss=round(1 - accuracy, 4), diverged=False,
        device="cpu", wall_seconds=2.0, sweep_id=sweep_id, hparams=json.dumps({}),
        mask=pack_masks(masks) if kind != "search-phase1" else None, weights=pack_weights(arrays),
    )  # fmt: skip


def build_store(path: Path) -> Path:
    """A store of 2 sweeps: a small search (phases 1 and 2) and 4 algorithms pruning
    widths 3 and 4 to 4 targets. Accuracies follow a fixed formula."""
    if path.exists():
        path.unlink()
    store = ResultsStore(path)
    store.initialize()
    rng = np.random.default_rng(7)
    search_id = store.create_sweep(
        "search-small", json.dumps({"name": "search-small", "epochs": 50})
    )
    prune_id = store.create_sweep("prune-small", json.dumps({"name": "prune-small", "epochs": 50}))
    records = []
    for w in range(1, 6):
        accuracy = min(0.999, 0.55 + 0.09 * w)
        records.append(
            _record(rng, "search-phase1", "dense", (w, w, w), None, accuracy, 0, search_id)
        )
    for nnz in range(12, 28, 2):
        accuracy = min(0.998, 0.70 + 0.017 * nnz)
        records.append(
            _record(rng, "search-phase2", "mask", (4, 4, 4), nnz, accuracy, 0, search_id)
        )
    for a, algorithm in enumerate(ALGORITHMS):
        for width in (3, 4):
            for nnz in TARGET_NNZ:
                if nnz >= sum(o * i for o, i in weight_shapes((width,) * 3)):
                    continue
                accuracy = min(0.997, 0.62 + 0.0085 * nnz - 0.02 * a + 0.01 * (width - 3))
                records.append(
                    _record(rng, "prune", algorithm, (width,) * 3, nnz, accuracy, 0, prune_id)
                )
    store.write_runs(records)
    store.set_sweep_status(search_id, "done")
    store.set_sweep_status(prune_id, "done")
    conn = duckdb.connect(str(path))
    try:
        conn.execute(f"UPDATE sweeps SET created = TIMESTAMP '{FIXED_TIME}'")
        conn.execute(f"UPDATE runs SET finished_at = TIMESTAMP '{FIXED_TIME}'")
    finally:
        conn.close()
    return path


def snapshot_app(folder: Path, start_mode: str = "leaderboard") -> SparsestApp:
    """The app over a fresh fixed store in `folder` (its file is always `snapshot.duckdb`)."""
    folder.mkdir(parents=True, exist_ok=True)
    db = build_store(folder / "snapshot.duckdb")
    app = make_app(db, start_mode=start_mode, spec_dir=folder, poll_interval=0.5, preload=False)
    # Scrolls land at once: an animated scroll still moving when the picture is taken (a
    # busy machine) leaves a list one row off.
    app.animation_level = "none"
    return app


if __name__ == "__main__":
    snapshot_app(Path(sys.argv[1] if len(sys.argv) > 1 else "tui-demo")).run()
