"""SNIP against a plain one-model reference written here, plus exact budgets.

Also home to the helpers the other pruning-at-init tests reuse: a plain nn.Module copy of
one model, its data read straight from the harness's data orders, a Python-sort top-k,
and `check_run` (exact budgets, masks within the models' own weights, masked parameters
zero at every optimiser step and after training).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from torch import nn

from algorithms.base import Draw, StepCallback
from algorithms.scoring import xavier_normal_
from algorithms.snip import Snip, SnipParams, snip_scores
from harness.training.data_order import epoch_orders
from harness.training.datasets import Dataset, load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession

SIZES = (2, 4, 4, 4, 1)
LRS = (0.1, 0.05, 0.2)
SCHEDULES = ("cosine", "constant", "multistep")
DATA = load_dataset("xor")


def make_session(
    seeds: Sequence[int] = (0, 1, 2),
    sizes: Sequence[int] = SIZES,
    active: Sequence[Sequence[int]] | None = None,
    seed: int = 3,
) -> TrainingSession:
    m = len(seeds)
    lrs = [LRS[k % 3] for k in range(m)]
    schedules = [SCHEDULES[k % 3] for k in range(m)]
    population = Population.initialize(sizes, list(seeds), lrs, schedules, active_sizes=active)
    return CheckedSession(population, DATA, SGDConfig(epochs=1), engine="torch", seed=seed)


def seeded_draw(size: int, seed: int) -> Draw:
    """A stand-in for `Session.draw`: [size, *shape] per call from one seeded generator."""
    generator = torch.Generator().manual_seed(seed)

    def draw(
        shape: Sequence[int], normal: bool = False, dtype: torch.dtype = torch.float64
    ) -> torch.Tensor:
        sample = torch.randn if normal else torch.rand
        return sample((size, *shape), generator=generator, dtype=dtype)

    return draw


class MasksHold(StepCallback):
    """Before every optimiser step: masked weights and biases are exactly zero."""

    def __init__(self) -> None:
        self.checked = 0

    def event_steps(self, total_steps: int, steps_per_epoch: int) -> Sequence[int]:
        return range(total_steps)

    def on_event(self, state, session) -> None:  # type: ignore[no-untyped-def]
        assert_masked_zero(state.population)
        self.checked += 1


def assert_masked_zero(population: Population) -> None:
    for w, mask in zip(population.weights, population.weight_masks, strict=True):
        assert (w[~mask] == 0).all()
    for b, mask in zip(population.biases, population.bias_masks, strict=True):
        assert (b[~mask] == 0).all()


class CheckedSession(TrainingSession):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.watch = MasksHold()
        self.trainings = 0

    def train(self, callbacks: Sequence[StepCallback] = (), epochs: int | None = None) -> None:
        self.started_from = [t.clone() for t in [*self.population.weights, *self.population.biases]]
        super().train([*callbacks, self.watch], epochs)
        self.trainings += 1


def check_run(algorithm, targets: Sequence[int], session=None, reinit: bool = False):  # type: ignore[no-untyped-def]
    """Runs `algorithm`; checks exact budgets, masks inside the initial ones, masked
    parameters zero through training and (unless `reinit`) that training started from
    the initial parameters, masked. Returns the session."""
    session = session or make_session(seeds=tuple(range(len(targets))))
    population = session.population
    initial = [m.clone() for m in population.weight_masks]
    params = [t.clone() for t in [*population.weights, *population.biases]]
    algorithm.run(session, torch.tensor(targets))
    assert session.trainings == 1
    assert session.watch.checked == session.steps_per_epoch
    assert population.weight_nnz().tolist() == list(targets)
    per_layer = torch.stack([m.flatten(1).sum(1) for m in population.weight_masks], 1)
    assert per_layer.sum(1).tolist() == list(targets)
    for mask, before in zip(population.weight_masks, initial, strict=True):
        assert not (mask & ~before).any()
    assert_masked_zero(population)
    if not reinit:
        masks = [*population.weight_masks, *population.bias_masks]
        for start, before, mask in zip(session.started_from, params, masks, strict=True):
            assert torch.equal(start, before * mask)
    return session


class PlainMLP(nn.Module):
    """Model k of a population as an ordinary nn.Module of nn.Linear layers."""

    def __init__(self, population: Population, k: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.layers = nn.ModuleList()
        for w, b in zip(population.weights, population.biases, strict=True):
            layer = nn.Linear(w.shape[2], w.shape[1]).to(dtype)
            with torch.no_grad():
                layer.weight.copy_(w[k])
                layer.bias.copy_(b[k])
            self.layers.append(layer)

    def forward(self, x: torch.Tensor, weights: Sequence[torch.Tensor] | None = None):  # type: ignore[no-untyped-def]
        weights = weights if weights is not None else [layer.weight for layer in self.layers]
        h = x
        for i, (layer, w) in enumerate(zip(self.layers, weights, strict=True)):
            h = nn.functional.linear(h, w, layer.bias)
            if i < len(self.layers) - 1:
                h = torch.relu(h)
        return h.squeeze(-1)


def plain_batch(
    data: Dataset, data_seed: int, start: int, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points start .. start+size-1 of the model's first epoch order (the training's
    first batches)."""
    order = epoch_orders(np.array([data_seed]), 0, data.points)[0]
    index = torch.as_tensor(order[start : start + size]).long()
    return torch.as_tensor(data.x)[index], torch.as_tensor(data.y)[index]


def plain_top(
    scores: Sequence[torch.Tensor], eligible: Sequence[torch.Tensor], keep: int
) -> list[torch.Tensor]:
    """Keep the `keep` highest scores among eligible weights: a Python sort by
    (-score, flat index) across all layers."""
    flat = torch.cat([s.detach().flatten() for s in scores]).tolist()
    ok = torch.cat([e.flatten() for e in eligible]).tolist()
    ranked = sorted((i for i in range(len(flat)) if ok[i]), key=lambda i: (-flat[i], i))
    chosen = set(ranked[:keep])
    new = torch.tensor([i in chosen for i in range(len(flat))])
    out, start = [], 0
    for s in scores:
        out.append(new[start : start + s.numel()].reshape(s.shape))
        start += s.numel()
    return out


def plain_schedule(n_start: int, n_final: int, steps: int) -> list[int]:
    """floor(n_start (n_final / n_start)^(k / steps)) for k = 1..steps, the last exact."""
    out = [
        math.floor(n_start * (n_final / n_start) ** (k / steps) + 1e-9) for k in range(1, steps + 1)
    ]
    out[-1] = n_final
    return [min(max(n, n_final), n_start) for n in out]


def assert_masks_equal(got: Sequence[torch.Tensor], want: Sequence[torch.Tensor], k: int) -> None:
    for g, w in zip(got, want, strict=True):
        assert torch.equal(g[k].cpu(), w)


# ---- SNIP -------------------------------------------------------------------------


def plain_snip(model: PlainMLP, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Lee et al.'s definition as the authors' PyTorch port computes it: a mask c = 1 on
    every weight, forward with w * c, score |dL/dc|."""
    c = [torch.ones_like(layer.weight, requires_grad=True) for layer in model.layers]
    weights = [layer.weight.detach() * ci for layer, ci in zip(model.layers, c, strict=True)]
    loss = nn.BCEWithLogitsLoss()(model(x, weights), y)
    loss.backward()
    return [ci.grad.abs() for ci in c]


@pytest.mark.parametrize("xavier", [False, True])
def test_scores_and_masks_match_the_plain_reference(xavier: bool) -> None:
    session = make_session()
    population = session.population
    targets = torch.tensor([5, 17, 30])
    algorithm = Snip(SnipParams(xavier_reinit=xavier))
    masks = algorithm.masks(session, targets)  # re-initialises the population in place
    x, y = session.batch()
    scores = snip_scores(population.weights, population.biases, x, y)
    for k in range(3):
        model = PlainMLP(population, k)
        px, py = plain_batch(DATA, k, 0, 128)
        want = plain_snip(model, px, py)
        for got, w in zip(scores, want, strict=True):
            torch.testing.assert_close(got[k], w, rtol=1e-5, atol=1e-8)
        eligible = [torch.ones_like(w, dtype=torch.bool) for w in want]
        assert_masks_equal(masks, plain_top(want, eligible, int(targets[k])), k)


def test_xavier_reinit_draws_per_model_and_keeps_biases() -> None:
    session = make_session()
    population = session.population
    biases = [b.clone() for b in population.biases]
    xavier_normal_(population, session.draw)
    fresh = make_session()  # same models and seed: its draws are the session's
    for w, b, before in zip(population.weights, population.biases, biases, strict=True):
        _, fan_out, fan_in = w.shape
        normal = fresh.draw((fan_out, fan_in), True, torch.float32)
        want = normal * math.sqrt(2 / (fan_in + fan_out))
        torch.testing.assert_close(w, want)
        assert torch.equal(b, before)


def test_xavier_scale_follows_each_models_own_width() -> None:
    m = 400
    active = [(2, 3, 3, 3, 1) if k % 2 else (2, 16, 16, 16, 1) for k in range(m)]
    population = Population.initialize(
        (2, 16, 16, 16, 1), list(range(m)), [0.1] * m, ["cosine"] * m, active_sizes=active
    )
    xavier_normal_(population, seeded_draw(m, 0))
    middle = population.weights[1]
    narrow, wide = middle[1::2, :3, :3], middle[0::2]
    assert (middle[1::2, 3:] == 0).all() and (middle[1::2, :, 3:] == 0).all()
    assert abs(narrow.std().item() / math.sqrt(2 / 6) - 1) < 0.1
    assert abs(wide.std().item() / math.sqrt(2 / 32) - 1) < 0.05


@pytest.mark.parametrize("xavier", [False, True])
def test_run_keeps_exact_budgets_and_trains_the_scored_weights(xavier: bool) -> None:
    session = make_session(seeds=(0, 1, 2, 3))
    reference = session.population.clone()
    ref_session = TrainingSession(reference, DATA, SGDConfig(epochs=1), seed=session.seed)
    expected = Snip(SnipParams(xavier_reinit=xavier)).masks(
        ref_session, torch.tensor([4, 9, 20, 43])
    )
    check_run(Snip(SnipParams(xavier_reinit=xavier)), [4, 9, 20, 43], session, reinit=xavier)
    for got, want in zip(session.population.weight_masks, expected, strict=True):
        assert torch.equal(got, want)
    # training starts from the scored (re-initialised, if asked) weights, masked
    for start, w, mask in zip(session.started_from, reference.weights, expected, strict=False):
        assert torch.equal(start, w * mask)


def test_padded_models_keep_only_their_own_weights() -> None:
    active = [(2, 3, 3, 3, 1), (2, 4, 2, 4, 1), (2, 4, 4, 4, 1)]
    session = make_session(active=active)
    check_run(Snip(), [4, 14, 40], session, reinit=True)
