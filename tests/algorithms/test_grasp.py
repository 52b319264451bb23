"""GraSP against a plain one-model reference (the authors' procedure on an nn.Module) and
an explicit Hessian, plus exact budgets and the sign convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from algorithms.grasp import Grasp, GraspParams, grasp_scores
from harness.training.data_order import epoch_orders
from harness.training.engines.base import SGDConfig
from harness.training.session import TrainingSession
from tests.algorithms.test_snip import DATA, PlainMLP, check_run, make_session, plain_top


def plain_balanced(data_seed: int, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `per_class` points of each class in the model's first epoch order,
    class 0 first (what the authors' GraSP_fetch_data collects from that order)."""
    order = epoch_orders(np.array([data_seed]), 0, DATA.points)[0]
    labels = DATA.y[order]
    index = np.concatenate([order[labels == 0][:per_class], order[labels == 1][:per_class]])
    index_t = torch.as_tensor(index).long()
    return torch.as_tensor(DATA.x)[index_t], torch.as_tensor(DATA.y)[index_t]


def plain_grasp(model: PlainMLP, x: torch.Tensor, y: torch.Tensor, t: float) -> list[torch.Tensor]:
    """Wang et al.'s code on one model: g from the two halves, then z = g . grad_f per
    half with create_graph, z.backward() accumulating Hg; score -w * Hg."""
    criterion = nn.BCEWithLogitsLoss()
    weights = [layer.weight for layer in model.layers]
    n = x.shape[0]
    halves = [(x[: n // 2], y[: n // 2]), (x[n // 2 :], y[n // 2 :])]
    grad_w = None
    for xh, yh in halves:
        g = torch.autograd.grad(criterion(model(xh) / t, yh), weights)
        grad_w = list(g) if grad_w is None else [a + b for a, b in zip(grad_w, g, strict=True)]
    for xh, yh in halves:
        grad_f = torch.autograd.grad(criterion(model(xh) / t, yh), weights, create_graph=True)
        z = sum((a.detach() * b).sum() for a, b in zip(grad_w, grad_f, strict=True))
        z.backward()
    return [-layer.weight.detach() * layer.weight.grad for layer in model.layers]


@pytest.mark.parametrize("xavier", [False, True])
def test_scores_and_masks_match_the_plain_reference(xavier: bool) -> None:
    session = make_session()
    population = session.population
    targets = torch.tensor([4, 17, 30])
    masks = Grasp(GraspParams(xavier_reinit=xavier)).masks(session, targets)
    x, y = session.batch(50, balanced=True)
    halves = [(x[:, :25], y[:, :25]), (x[:, 25:], y[:, 25:])]
    scores = grasp_scores(population.weights, population.biases, halves, 200.0)
    for k in range(3):
        px, py = plain_balanced(k, 25)
        assert torch.equal(px, x[k]) and torch.equal(py, y[k])
        want = plain_grasp(PlainMLP(population, k), px, py, 200.0)
        for got, w in zip(scores, want, strict=True):
            torch.testing.assert_close(got[k], w, rtol=1e-4, atol=1e-12)
        # GraSP removes the highest scores: keep the lowest.
        eligible = [torch.ones_like(w, dtype=torch.bool) for w in want]
        expected = plain_top([-w for w in want], eligible, int(targets[k]))
        for got, w in zip(masks, expected, strict=True):
            assert torch.equal(got[k], w)


def test_score_is_minus_w_times_the_explicit_hessian_gradient_product() -> None:
    """An independent check in float64: S = -w ⊙ (∇²L ∇L) with L the sum of the two
    halves' mean losses at temperature 200, the Hessian built explicitly."""
    session = make_session()
    population = session.population
    for t in [*population.weights, *population.biases]:
        t.data = t.data.double()
    x, y = session.batch(50, balanced=True)
    halves = [(x[:, :25], y[:, :25]), (x[:, 25:], y[:, 25:])]
    scores = grasp_scores(population.weights, population.biases, halves, 200.0)
    k = 1
    model = PlainMLP(population, k, dtype=torch.float64)
    shapes = [layer.weight.shape for layer in model.layers]
    sizes = [s.numel() for s in shapes]

    def loss(flat: torch.Tensor) -> torch.Tensor:
        weights = [p.reshape(s) for p, s in zip(flat.split(sizes), shapes, strict=True)]
        return sum(
            nn.functional.binary_cross_entropy_with_logits(
                model(xh[k].double(), weights) / 200.0, yh[k].double()
            )
            for xh, yh in halves
        )

    w = torch.cat([layer.weight.detach().flatten() for layer in model.layers])
    hessian = torch.autograd.functional.hessian(loss, w)
    gradient = torch.autograd.functional.jacobian(loss, w)
    want = -w * (hessian @ gradient)
    got = torch.cat([s[k].flatten() for s in scores])
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-18)


@pytest.mark.parametrize("xavier", [False, True])
def test_run_keeps_exact_budgets_and_trains_the_scored_weights(xavier: bool) -> None:
    targets = [4, 9, 20, 43]
    session = make_session(seeds=(0, 1, 2, 3))
    reference = session.population.clone()
    ref_session = TrainingSession(reference, DATA, SGDConfig(epochs=1), seed=session.seed)
    params = GraspParams(xavier_reinit=xavier)
    expected = Grasp(params).masks(ref_session, torch.tensor(targets))
    check_run(Grasp(params), targets, session, reinit=xavier)
    for got, want in zip(session.population.weight_masks, expected, strict=True):
        assert torch.equal(got, want)
    for start, w, mask in zip(session.started_from, reference.weights, expected, strict=False):
        assert torch.equal(start, w * mask)


def test_padded_models_keep_only_their_own_weights() -> None:
    """Masked weights score 0, which GraSP would rank among the best to keep: they must
    not be eligible."""
    active = [(2, 3, 3, 3, 1), (2, 4, 2, 4, 1), (2, 4, 4, 4, 1)]
    session = make_session(active=active)
    check_run(Grasp(GraspParams(xavier_reinit=False)), [4, 14, 40], session)
