"""ProsPr against a plain one-model reference (the authors' functional inner loop on an
nn.Module), plus exact budgets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from algorithms.prospr import ProsPr, ProsPrParams, prospr_scores
from algorithms.scoring import step_batches
from algorithms.snip import snip_scores
from tests.algorithms.test_snip import (
    DATA,
    LRS,
    PlainMLP,
    check_run,
    make_session,
    plain_batch,
    plain_top,
)


def plain_prospr(
    model: PlainMLP,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    lr: float,
    momentum: float,
) -> list[torch.Tensor]:
    """Alizadeh et al.'s code on one model: fast weights w * c (c = 1), biases cloned;
    SGD steps with create_graph (their functional_sgd: the first momentum buffer is a
    detached copy of the gradient); |d loss / d c| after the last step."""
    depth = len(model.layers)
    c = [torch.ones_like(layer.weight, requires_grad=True) for layer in model.layers]
    fast: list[torch.Tensor] = []
    for layer, ci in zip(model.layers, c, strict=True):
        fast += [layer.weight * ci, layer.bias.clone()]

    def forward(params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        h = x
        for i in range(depth):
            h = nn.functional.linear(h, params[2 * i], params[2 * i + 1])
            if i < depth - 1:
                h = torch.relu(h)
        return h.squeeze(-1)

    criterion = nn.BCEWithLogitsLoss()
    buffers: list[torch.Tensor | None] = [None] * len(fast)
    for x, y in batches[:-1]:
        grads = torch.autograd.grad(criterion(forward(fast, x), y), fast, create_graph=True)
        updated = []
        for j, (p, g) in enumerate(zip(fast, grads, strict=True)):
            if momentum != 0:
                buf = buffers[j]
                buf = torch.clone(g).detach() if buf is None else buf.mul(momentum).add(g)
                buffers[j] = buf
                g = buf
            updated.append(p.add(g, alpha=-lr))
        fast = updated
    x, y = batches[-1]
    meta = torch.autograd.grad(criterion(forward(fast, x), y), c)
    return [g.abs() for g in meta]


@pytest.mark.parametrize(
    ("params", "lrs"),
    [
        (ProsPrParams(inner_momentum=0.0), LRS),
        (ProsPrParams(), LRS),
        (ProsPrParams(inner_lr=0.3, new_batch_per_step=False), (0.3, 0.3, 0.3)),
    ],
    ids=["paper", "study-momentum", "fixed-lr-one-batch"],
)
def test_scores_and_masks_match_the_plain_reference(params: ProsPrParams, lrs) -> None:  # type: ignore[no-untyped-def]
    session = make_session()
    population = session.population
    targets = torch.tensor([4, 17, 30])
    masks = ProsPr(params).masks(session, targets)
    steps = params.inner_steps
    batches = step_batches(session, steps + 1, params.new_batch_per_step)
    lr = torch.tensor(lrs, dtype=torch.float64)
    scores = prospr_scores(
        population.weights,
        population.biases,
        population.weight_masks,
        batches,
        lr,
        params.inner_momentum,
    )
    for k in range(3):
        starts = [128 * i if params.new_batch_per_step else 0 for i in range(steps + 1)]
        plain_batches = [plain_batch(DATA, k, s, 128) for s in starts]
        want = plain_prospr(PlainMLP(population, k), plain_batches, lrs[k], params.inner_momentum)
        for got, w in zip(scores, want, strict=True):
            torch.testing.assert_close(got[k], w, rtol=1e-4, atol=1e-7)
        eligible = [torch.ones_like(w, dtype=torch.bool) for w in want]
        expected = plain_top(want, eligible, int(targets[k]))
        for got, w in zip(masks, expected, strict=True):
            assert torch.equal(got[k], w)


def test_meta_gradient_goes_through_the_steps() -> None:
    """With no inner step the score is SNIP's |w * g| (tested against its own plain
    reference); with steps it is not."""
    session = make_session()
    population = session.population
    x, y = session.batch()
    lr = torch.tensor(LRS, dtype=torch.float64)
    args = (population.weights, population.biases, population.weight_masks)
    zero_steps = prospr_scores(*args, [(x, y)], lr)
    for a, b in zip(
        zero_steps, snip_scores(population.weights, population.biases, x, y), strict=True
    ):
        torch.testing.assert_close(a, b)
    three = prospr_scores(*args, step_batches(session, 4, True), lr)
    assert any(not torch.allclose(a, b) for a, b in zip(three, zero_steps, strict=True))


def test_run_keeps_exact_budgets() -> None:
    session = make_session(seeds=(0, 1, 2, 3))
    check_run(ProsPr(), [4, 9, 20, 43], session)


def test_padded_models_keep_only_their_own_weights() -> None:
    active = [(2, 3, 3, 3, 1), (2, 4, 2, 4, 1), (2, 4, 4, 4, 1)]
    session = make_session(active=active)
    check_run(ProsPr(ProsPrParams(inner_momentum=0.9)), [4, 14, 40], session)
