"""A trained population read back as one `RunRecord` per model: the one record factory
of the search and of every pruning algorithm.

Units: accuracy is the exact fraction of scoring points right (float64), NaN loss when
the model diverged; `wall_seconds` is the population's training time divided by its
models. Masks and weights are stored at the model's own widths (padding cut off):
`mask` for every masked run (phase 2 and pruning; None for phase 1's dense networks),
`weights` (float32, layer by layer: the weight matrix row-major, then the bias) for
structures up to WEIGHTS_KEPT_UP_TO_WIDTH wide.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from algorithms.connectivity import connectivity
from harness.training.datasets import Dataset
from harness.training.evaluation import evaluate
from harness.training.population import Population
from store.masks import pack_masks, pack_weights
from store.records import RunRecord

if TYPE_CHECKING:
    from harness.training.unit import PlannedRun

WEIGHTS_KEPT_UP_TO_WIDTH = 16
EVALUATION_CHUNK = 256
"""Models scored together (bounds the scoring buffers of wide populations)."""


def population_records(
    population: Population,
    runs: Sequence[PlannedRun],
    data: Dataset,
    device: str,
    seconds: float,
) -> list[RunRecord]:
    """One record per model of `population` (trained), scored on `data`."""
    accuracy, loss, diverged = [], [], []
    for start in range(0, population.size, EVALUATION_CHUNK):
        stop = min(start + EVALUATION_CHUNK, population.size)
        part = evaluate(population.select(range(start, stop)), data)
        accuracy += part.accuracy.double().tolist()
        loss += part.loss.tolist()
        diverged += part.diverged.tolist()
    pop = population.to("cpu")
    links = connectivity(pop.weight_masks)
    padded_widths = pop.layer_sizes[1:-1]
    weight_nnz, model_nnz = pop.weight_nnz().tolist(), pop.model_nnz().tolist()
    records = []
    for k, run in enumerate(runs):
        spec = run.spec
        pairs = list(itertools.pairwise((2, *spec.widths, 1)))
        masks = [pop.weight_masks[n][k, :o, :i].numpy() for n, (i, o) in enumerate(pairs)]
        params: list[np.ndarray] = []
        for n, (i, o) in enumerate(pairs):
            params += [pop.weights[n][k, :o, :i].numpy(), pop.biases[n][k, :o].numpy()]
        dead = [
            int(links.dead_neurons[k, h]) - (padded - own)
            for h, (padded, own) in enumerate(zip(padded_widths, spec.widths, strict=True))
        ]
        masked = spec.mask is not None or spec.kind == "prune"
        keep_weights = max(spec.widths) <= WEIGHTS_KEPT_UP_TO_WIDTH
        records.append(
            RunRecord(
                run_key=run.run_key, kind=spec.kind, algorithm=spec.algorithm,
                dataset=spec.dataset, widths=spec.widths, init_mode=spec.init_mode,
                seed=spec.seed, lr=spec.lr, schedule=spec.schedule, epochs=spec.epochs,
                target_weight_nnz=spec.target_weight_nnz, weight_nnz=int(weight_nnz[k]),
                model_nnz=int(model_nnz[k]), effective_nnz=int(links.effective_nnz[k]),
                dead_neurons=tuple(dead), accuracy=float(accuracy[k]),
                final_loss=math.nan if diverged[k] else float(loss[k]),
                diverged=bool(diverged[k]), device=device,
                wall_seconds=seconds / len(runs),
                hparams=json.dumps({n: json.loads(v) for n, v in spec.hparams}, sort_keys=True),
                mask=pack_masks(masks) if masked else None,
                weights=pack_weights(params) if keep_weights else None,
            )
        )  # fmt: skip
    return records


def stamp(records: Sequence[RunRecord], sweep_id: int | None) -> list[RunRecord]:
    """The records as written by sweep `sweep_id`."""
    return [replace(r, sweep_id=sweep_id) for r in records]
