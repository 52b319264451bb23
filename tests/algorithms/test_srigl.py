"""SRigL against a plain one-model reference of its fan-in rule and of one update (Python
sorts and loops), plus whole runs: exact budgets, (near-)constant fan-in, ablation."""

from __future__ import annotations

import pytest
import torch

from algorithms.connectivity import connectivity
from algorithms.srigl import SRigL, SRigLParams, fan_in_quotas, srigl_layer_update
from tests.algorithms.test_snip import check_run, make_session


def plain_top(scores: list[float], eligible: list[bool], k: int) -> set[int]:
    ranked = sorted((i for i in range(len(scores)) if eligible[i]), key=lambda i: (-scores[i], i))
    return set(ranked[:k])


def plain_quotas(total: int, caps: list[int], alive: list[bool], order: list[int]) -> list[int]:
    """Water-filling one weight at a time: each weight goes to the alive row with the
    fewest weights that still has room, ties by `order` (earlier first)."""
    quotas = [0] * len(caps)
    for _ in range(total):
        rows = [r for r in range(len(caps)) if alive[r] and quotas[r] < caps[r]]
        quotas[min(rows, key=lambda r: (quotas[r], order.index(r)))] += 1
    return quotas


def test_fan_in_quotas_match_water_filling_one_weight_at_a_time() -> None:
    g = torch.Generator().manual_seed(0)
    caps = torch.randint(0, 7, (60, 6), generator=g)
    alive = torch.rand(60, 6, generator=g) < 0.7
    alive[:, 0] = True
    caps[:, 0] = 6
    priority = torch.randint(0, 4, (60, 6), generator=g).double() * 7 - torch.arange(6) / 7
    capacity = (caps * alive).sum(1)
    total = (torch.rand(60, generator=g) * (capacity + 1)).long().clamp(max=capacity)
    quotas = fan_in_quotas(total, caps, alive, priority)
    for m in range(60):
        order = sorted(range(6), key=lambda r: (-float(priority[m, r]), r))
        want = plain_quotas(int(total[m]), caps[m].tolist(), alive[m].tolist(), order)
        assert quotas[m].tolist() == want


def plain_update(w, mask, grad, allowed, fraction, threshold, ablate):  # type: ignore[no-untyped-def]
    """The update for one model's layer, as the module docstring states it."""
    rows, cols = mask.shape
    flat = lambda t: t.flatten().tolist()  # noqa: E731
    active = flat(mask)
    n = sum(active)
    d = int(n * fraction // 1)
    survive = plain_top([abs(v) for v in flat(w)], active, n - d)
    others = [bool(a) and i not in survive for i, a in enumerate(flat(allowed))]
    regrow = plain_top([abs(v) for v in flat(grad)], others, d)
    salient = [sum(1 for c in range(cols) if r * cols + c in survive | regrow) for r in range(rows)]
    fan_in = [int(mask[r].sum()) for r in range(rows)]
    alive = [f > 0 for f in fan_in]
    order = sorted(range(rows), key=lambda r: (-salient[r], r))
    if ablate:
        best = next(r for r in order if alive[r])
        alive = [
            a and (salient[r] >= threshold * fan_in[r] or r == best) for r, a in enumerate(alive)
        ]
    caps = [int(allowed[r].sum()) for r in range(rows)]
    for r in order:  # the most salient others return while the alive cannot hold n
        if sum(c for c, a in zip(caps, alive, strict=True) if a) >= n:
            break
        alive[r] = True
    quotas = plain_quotas(n, caps, alive, order)
    new = torch.zeros_like(mask)
    for r in range(rows):
        mine = [r * cols + c in survive for c in range(cols)]
        kept = plain_top([abs(float(v)) for v in w[r]], mine, quotas[r])
        rest = [bool(allowed[r, c]) and c not in kept for c in range(cols)]
        grown = plain_top([abs(float(v)) for v in grad[r]], rest, quotas[r] - len(kept))
        for c in kept | grown:
            new[r, c] = True
    return new


@pytest.mark.parametrize(("fraction", "threshold"), [(0.3, 0.3), (0.5, 0.9), (0.1, 0.0)])
def test_one_update_matches_the_plain_reference(fraction: float, threshold: float) -> None:
    g = torch.Generator().manual_seed(1)
    models, rows, cols = 30, 5, 6
    allowed = torch.rand(models, rows, cols, generator=g) < 0.9
    mask = allowed & (torch.rand(models, rows, cols, generator=g) < 0.5)
    w = torch.randint(-4, 5, (models, rows, cols), generator=g).float() * mask  # ties
    grad = torch.randint(-4, 5, (models, rows, cols), generator=g).float()
    new = srigl_layer_update(w, mask, grad, allowed, fraction, threshold, threshold > 0)
    for m in range(models):
        want = plain_update(w[m], mask[m], grad[m], allowed[m], fraction, threshold, threshold > 0)
        assert torch.equal(new[m], want), m
        assert int(new[m].sum()) == int(mask[m].sum())


@pytest.mark.parametrize("threshold", [0.3, 0.0])
def test_runs_keep_exact_budgets_and_near_constant_fan_in(threshold: float) -> None:
    targets = [4, 9, 20, 44]
    session = make_session(seeds=(0, 1, 2, 3))
    params = SRigLParams(update_interval=5, salience_threshold=threshold)
    check_run(SRigL(params), targets, session=session, reinit=True)
    for mask in session.population.weight_masks:
        fan_in = mask.sum(2)
        for m in range(len(targets)):
            alive = fan_in[m][fan_in[m] > 0]
            assert len(alive) == 0 or int(alive.max() - alive.min()) <= 1
    assert (connectivity(session.population.weight_masks).weight_nnz == torch.tensor(targets)).all()


def test_padded_models_stay_inside_their_weights() -> None:
    session = make_session(
        seeds=(0, 1), sizes=(2, 6, 6, 6, 1), active=[(2, 3, 3, 3, 1), (2, 6, 6, 6, 1)]
    )
    check_run(SRigL(SRigLParams(update_interval=5)), [5, 30], session=session, reinit=True)
