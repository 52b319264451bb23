"""NTK-SAP against a plain one-model reference, round by round (the same random numbers,
replayed), plus exact budgets, data-freeness and the padded models' own fan-in."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
import torch

from algorithms.ntk_sap import NtkSap, NtkSapParams, ntk_sap_rounds
from algorithms.scoring import exponential_schedule
from tests.algorithms.test_snip import (
    check_run,
    make_session,
    plain_schedule,
    plain_top,
    seeded_draw,
)


class Recorded:
    """A seeded draw for M models that keeps every call's numbers."""

    def __init__(self, size: int, seed: int) -> None:
        self.draw = seeded_draw(size, seed)
        self.calls: list[torch.Tensor] = []

    def __call__(self, shape, normal=False, dtype=torch.float64):  # type: ignore[no-untyped-def]
        out = self.draw(shape, normal, dtype)
        self.calls.append(out)
        return out


def plain_forward(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor], x):  # type: ignore[no-untyped-def]
    h = x
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = h @ w.T + b
        if layer < len(weights) - 1:
            h = torch.relu(h)
    return h.squeeze(-1)


def unpack(flat: torch.Tensor, shapes: Sequence[tuple[int, ...]]) -> list[torch.Tensor]:
    out, start = [], 0
    for shape in shapes:
        out.append(flat[start : start + math.prod(shape)].reshape(shape))
        start += math.prod(shape)
    assert start == flat.numel()
    return out


def plain_ntk_sap(biases, masks, numbers, target, params):  # type: ignore[no-untyped-def]
    """One model: each round unpacks its numbers (θ per layer, x, ξ per layer, per
    sample), scores |dR/dm| by autograd on float64 masks, keeps the top by a Python sort."""
    shapes = [tuple(m.shape) for m in masks]
    fans = [int(m.any(0).sum()) for m in masks]
    total = sum(int(m.sum()) for m in masks)
    noise = (params.noise_points, shapes[0][1])
    layout = [*shapes, noise, *shapes] * params.samples
    out = []
    for flat, keep in zip(numbers, plain_schedule(total, target, params.rounds), strict=True):
        parts = iter(unpack(flat.double(), layout))
        scores = [torch.zeros(s, dtype=torch.float64) for s in shapes]
        for _ in range(params.samples):
            theta = [next(parts) * math.sqrt(2.0 / f) for f in fans]
            x = next(parts)
            xi = [next(parts) for _ in shapes]
            m = [mask.double().requires_grad_(True) for mask in masks]
            bias_masks = [nxt.any(0) for nxt in masks[1:]] + [torch.ones(1, dtype=torch.bool)]
            b = [bias.double() * bm for bias, bm in zip(biases, bias_masks, strict=True)]
            f1 = plain_forward([t * mm for t, mm in zip(theta, m, strict=True)], b, x)
            moved = [(t + params.epsilon * d) * mm for t, d, mm in zip(theta, xi, m, strict=True)]
            f2 = plain_forward(moved, b, x)
            ((f1 - f2) ** 2).sum().backward()
            scores = [sc + mm.grad.abs() * k for sc, mm, k in zip(scores, m, masks, strict=True)]
        masks = plain_top(scores, masks, keep)
        out.append((scores, masks))
    return out


PADDED = {"sizes": (2, 6, 6, 6, 1), "active": [(2, 3, 3, 3, 1), (2, 6, 6, 6, 1), (2, 6, 2, 4, 1)]}


@pytest.mark.parametrize("padded", [False, True])
def test_every_round_matches_the_plain_reference(padded: bool) -> None:
    session = make_session(**PADDED) if padded else make_session()  # type: ignore[arg-type]
    population = session.population
    targets = [4, 11, 25]
    params = NtkSapParams(rounds=6, noise_points=5, samples=2)
    schedule = exponential_schedule(population.weight_nnz(), torch.tensor(targets), params.rounds)
    draw = Recorded(3, seed=7)
    rounds = list(
        ntk_sap_rounds(population.biases, population.weight_masks, draw, schedule, params)
    )
    for k in range(3):
        biases = [b[k] for b in population.biases]
        masks = [m[k] for m in population.weight_masks]
        numbers = [call[k] for call in draw.calls]
        plain = plain_ntk_sap(biases, masks, numbers, targets[k], params)
        for (scores, got), (want_scores, want) in zip(rounds, plain, strict=True):
            for s, ws, g, w in zip(scores, want_scores, got, want, strict=True):
                torch.testing.assert_close(s[k], ws, rtol=1e-9, atol=1e-12)
                assert torch.equal(g[k], w)


def test_exact_budgets_data_free_and_trained_from_its_own_init() -> None:
    session = make_session(seeds=(0, 1, 2, 3))
    session.batch = None  # type: ignore[assignment]  # data-free: never asks for data
    check_run(NtkSap(NtkSapParams(rounds=10)), [4, 9, 20, 44], session=session)


def test_padded_models_use_their_own_fan_in_and_stay_inside_their_weights() -> None:
    session = make_session(
        seeds=(0, 1), sizes=(2, 6, 6, 6, 1), active=[(2, 3, 3, 3, 1), (2, 6, 6, 6, 1)]
    )
    check_run(NtkSap(NtkSapParams(rounds=5)), [5, 30], session=session)
