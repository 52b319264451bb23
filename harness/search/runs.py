"""A search's runs: one planned training each, padded into a population, trained, and
read back as records.

Seeds. `random` init: a run's init and data order come from a seed derived from
(widths, mask, seed), shared across the lr x schedule grid and distinct across masks
and seeds. `fixed` init: seed s names one network (harness.training.initialisation) from which
every structure or mask is cut; the data order comes from s too.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from harness.search.config import Runner
from harness.search.masks import MaskSet, pack_network_mask
from harness.training.datasets import Dataset
from harness.training.engines.base import SGDConfig
from harness.training.engines.select import resolve_engine
from harness.training.evaluation import evaluate
from harness.training.initialisation import derive_seed, fixed_network, sub_network
from harness.training.population import Population, default_linear_init, schedule_code
from harness.training.run_spec import RunSpec
from harness.training.session import TrainingSession
from store.records import RunRecord


@dataclass(frozen=True)
class SearchRun:
    """One planned training: its spec and key, where its init and data order come from,
    and (phase 2) which network of the MaskSet it trains."""

    spec: RunSpec
    key: str
    init_seed: int
    data_seed: int
    mask_id: int = -1  # phase 2: index into the MaskSet


def _spec_hparams(init_mode: str, fixed_width: int) -> tuple[tuple[str, str], ...]:
    return (("fixed_width", str(fixed_width)),) if init_mode == "fixed" else ()


def make_run(
    kind: str, algorithm: str, dataset: str, widths: tuple[int, ...], init_mode: str,
    point: tuple[float, str, int], epochs: int, fixed_width: int,
    mask_hex: str | None = None, mask_id: int = -1,
) -> SearchRun:  # fmt: skip
    """One grid `point` (lr, schedule, seed) of a network, seeded as the module says."""
    lr, schedule, seed = point
    spec = RunSpec(
        kind, algorithm, dataset, widths, init_mode, seed, lr, schedule, epochs,
        mask=mask_hex, hparams=_spec_hparams(init_mode, fixed_width),
    )  # fmt: skip
    key = spec.run_key()
    if init_mode == "fixed":
        return SearchRun(spec, key, seed, seed, mask_id)
    derived = derive_seed(widths, mask_hex, seed)
    return SearchRun(spec, key, derived, derived, mask_id)


def _initial(
    run: SearchRun, fixed_width: int, cache: dict
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    widths = run.spec.widths
    if run.spec.init_mode == "fixed":
        key = ("fixed", run.init_seed)
        if key not in cache:
            cache[key] = fixed_network(fixed_width, len(widths), run.init_seed)
        return sub_network(cache[key], widths)
    key = ("random", run.init_seed, widths)
    if key not in cache:
        cache[key] = default_linear_init((2, *widths, 1), run.init_seed)
    return cache[key]


def build_population(
    sizes: tuple[int, ...],
    runs: Sequence[SearchRun],
    fixed_width: int,
    masks: Sequence[np.ndarray] | None = None,
) -> Population:
    """The runs' models padded into one population of `sizes`; `masks` (per layer
    [M, out, in] at the runs' own sizes) for phase 2, dense otherwise."""
    m = len(runs)
    pairs = list(itertools.pairwise(sizes))
    weights = [torch.zeros(m, o, i) for i, o in pairs]
    biases = [torch.zeros(m, o) for _, o in pairs]
    weight_masks = [torch.zeros(m, o, i, dtype=torch.bool) for i, o in pairs]
    cache: dict = {}
    for k, run in enumerate(runs):
        ws, bs = _initial(run, fixed_width, cache)
        for layer, (w, b) in enumerate(zip(ws, bs, strict=True)):
            o, i = w.shape
            weights[layer][k, :o, :i] = w
            biases[layer][k, :o] = b
            if masks is None:
                weight_masks[layer][k, :o, :i] = True
            else:
                weight_masks[layer][k, :o, :i] = torch.from_numpy(masks[layer][k])
    population = Population(
        sizes, weights, biases, weight_masks,
        lr=torch.tensor([r.spec.lr for r in runs], dtype=torch.float64),
        schedule=torch.tensor([schedule_code(r.spec.schedule) for r in runs]),
        data_seed=torch.tensor([r.data_seed for r in runs], dtype=torch.int64),
        init_seed=torch.tensor([r.init_seed for r in runs], dtype=torch.int64),
    )  # fmt: skip
    population.apply_masks()
    return population


def _records(
    population: Population, runs: Sequence[SearchRun], data: Dataset, device: str, seconds: float,
    with_masks: bool, sweep_id: int | None,
) -> list[RunRecord]:  # fmt: skip
    pop = population.to("cpu")
    accuracy, loss, diverged = [], [], []
    for start in range(0, pop.size, 256):
        part = evaluate(pop.select(range(start, min(start + 256, pop.size))), data)
        accuracy += (np.round(part.accuracy.double().numpy() * data.points) / data.points).tolist()
        loss += part.loss.tolist()
        diverged += part.diverged.tolist()
    weight_nnz, model_nnz = pop.weight_nnz().tolist(), pop.model_nnz().tolist()
    records = []
    for k, run in enumerate(runs):
        sizes = (2, *run.spec.widths, 1)
        pairs = list(itertools.pairwise(sizes))
        params = []
        for layer, (i, o) in enumerate(pairs):
            params += [pop.weights[layer][k, :o, :i].ravel(), pop.biases[layer][k, :o]]
        mask = None
        if with_masks:
            mask = pack_network_mask(
                [pop.weight_masks[n][k, :o, :i].numpy() for n, (i, o) in enumerate(pairs)]
            )
        spec = run.spec
        records.append(
            RunRecord(
                run_key=run.key, kind=spec.kind, algorithm=spec.algorithm,
                dataset=spec.dataset, widths=spec.widths, init_mode=spec.init_mode,
                seed=spec.seed, lr=spec.lr, schedule=spec.schedule, epochs=spec.epochs,
                target_weight_nnz=None, weight_nnz=int(weight_nnz[k]),
                model_nnz=int(model_nnz[k]), effective_nnz=int(weight_nnz[k]),
                dead_neurons=(0,) * len(spec.widths), accuracy=float(accuracy[k]),
                final_loss=float(loss[k]), diverged=bool(diverged[k]), device=device,
                wall_seconds=seconds / len(runs), hparams=json.dumps(dict(spec.hparams)),
                mask=mask, weights=torch.cat(params).numpy().astype(np.float32).tobytes(),
                sweep_id=sweep_id,
            )
        )  # fmt: skip
    return records


def train_runs(
    sizes: tuple[int, ...],
    runs: Sequence[SearchRun],
    data: Dataset,
    epochs: int,
    runner: Runner,
    fixed_width: int,
    mask_set: MaskSet | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[RunRecord]:
    """Train `runs` as one population padded to `sizes`; their records, in order."""
    device = torch.device(runner.device)
    masks = None
    if mask_set is not None:
        masks = mask_set.take(np.array([r.mask_id for r in runs]))
    population = build_population(sizes, runs, fixed_width, masks).to(device)
    engine = resolve_engine(runner.engine, device)
    started = time.perf_counter()
    session = TrainingSession(
        population, data, SGDConfig(epochs=epochs), engine=engine, progress=progress
    )
    session.train()
    seconds = time.perf_counter() - started
    return _records(
        population, runs, data, device.type, seconds, mask_set is not None, runner.sweep_id
    )
