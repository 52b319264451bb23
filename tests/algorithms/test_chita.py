"""CHITA against a plain one-model reference: per-sample gradients by autograd one point
at a time, the Fisher formed explicitly, the same power iteration, IHT with Python sorts."""

from __future__ import annotations

import torch

from algorithms.chita import (
    POWER_ITERATIONS,
    Chita,
    ChitaParams,
    chita_solve,
    per_sample_gradients,
)
from algorithms.topk import keep_top
from harness.training.data_order import epoch_orders
from harness.training.datasets import load_dataset
from harness.training.engines.base import SGDConfig
from harness.training.population import Population
from harness.training.session import TrainingSession
from tests.algorithms.test_magnitude_after import SIZES, PlainModel, plain_train


def plain_top(values: list[float], eligible: list[bool], k: int) -> list[bool]:
    ranked = sorted(
        (i for i in range(len(values)) if eligible[i]), key=lambda i: (-abs(values[i]), i)
    )
    chosen = set(ranked[:k])
    return [i in chosen for i in range(len(values))]


def plain_chita(model: PlainModel, x: torch.Tensor, y: torch.Tensor, k: int, params: ChitaParams):  # type: ignore[no-untyped-def]
    weights = [w.detach().double().requires_grad_(True) for w in model.weights]
    biases = [b.detach().double() for b in model.biases]
    rows = []
    for i in range(x.shape[0]):
        h = x[i : i + 1].double()
        for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
            h = h @ w.T + b
            if layer < len(weights) - 1:
                h = torch.relu(h)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(h.squeeze(), y[i].double())
        rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, weights)]))
    eligible = torch.cat([m.flatten() for m in model.masks])
    g = torch.stack(rows) * eligible
    hessian = g.T @ g / x.shape[0] + params.ridge * torch.eye(g.shape[1], dtype=torch.float64)
    v = eligible.double() / eligible.double().norm()
    for _ in range(POWER_ITERATIONS):
        v = hessian @ v
        v = v / v.norm()
    lipschitz = float(v @ hessian @ v)
    w_bar = torch.cat([w.detach().flatten() for w in weights])
    ok = eligible.tolist()
    support = torch.tensor(plain_top(w_bar.tolist(), ok, k))
    w = w_bar * support
    for _ in range(params.iterations):
        step = w - hessian @ (w - w_bar) / lipschitz
        support = torch.tensor(plain_top(step.tolist(), ok, k))
        w = step * support
    for _ in range(params.refine_iterations):
        w = (w - hessian @ (w - w_bar) / lipschitz) * support
    return w, support


def test_per_sample_gradients_match_autograd_one_point_at_a_time() -> None:
    population = Population.initialize(SIZES, [0, 1], [0.1] * 2, ["cosine"] * 2)
    data = load_dataset("xor")
    x = torch.as_tensor(data.x[:7]).expand(2, -1, -1)
    y = torch.as_tensor(data.y[:7]).expand(2, -1)
    g = per_sample_gradients(population.weights, population.biases, x, y)
    for k in range(2):
        model = PlainModel(population, k)
        for i in range(7):
            h = x[k, i : i + 1]
            out = model.forward(h)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(out, y[k, i : i + 1])
            want = torch.cat([t.flatten() for t in torch.autograd.grad(loss, model.weights)])
            torch.testing.assert_close(g[k, i].float(), want, rtol=1e-5, atol=1e-6)


def test_batched_run_matches_the_plain_reference() -> None:
    data = load_dataset("xor")
    lrs, schedules, targets = [0.1, 0.05, 0.2], ["cosine", "multistep", "constant"], [5, 12, 30]
    population = Population.initialize(SIZES, [4, 5, 6], lrs, schedules)
    references = [PlainModel(population, k) for k in range(3)]
    session = TrainingSession(population, data, SGDConfig(epochs=1), engine="torch")
    params = ChitaParams(calibration_points=16, iterations=30, refine_iterations=5)
    Chita(params).run(session, torch.tensor(targets))
    assert population.weight_nnz().tolist() == targets
    for k, model in enumerate(references):
        plain_train(model, data, lrs[k], schedules[k], 1, data_seed=4 + k)
        order = epoch_orders([4 + k], 0, data.points)[0][:16]
        x, y = torch.as_tensor(data.x)[order], torch.as_tensor(data.y)[order]
        w, support = plain_chita(model, x, y, targets[k], params)
        got_w = torch.cat([t[k].flatten() for t in population.weights])
        got_m = torch.cat([t[k].flatten() for t in population.weight_masks])
        assert torch.equal(got_m, support)
        torch.testing.assert_close(got_w, w.float(), atol=1e-4, rtol=0)


def test_iht_lowers_the_quadratic_below_magnitude_pruning_and_moves_kept_weights() -> None:
    g = torch.Generator().manual_seed(0)
    models, n, p = 8, 40, 30
    grads = torch.randn(models, n, p, generator=g, dtype=torch.float64)
    grads[:, :, :5] *= 10  # an anisotropic Fisher
    w_bar = torch.randn(models, p, generator=g, dtype=torch.float64)
    eligible = torch.rand(models, p, generator=g) < 0.9
    k = torch.randint(3, 20, (models,), generator=g)
    params = ChitaParams()
    w, support = chita_solve(grads, w_bar * eligible, eligible, k, params)
    assert support.sum(1).tolist() == k.tolist() and not (support & ~eligible).any()

    def quadratic(v: torch.Tensor) -> torch.Tensor:
        d = v - w_bar * eligible
        fit = torch.bmm(grads * eligible.unsqueeze(1), d.unsqueeze(2)).squeeze(2)
        return fit.pow(2).sum(1) / (2 * n) + params.ridge / 2 * d.pow(2).sum(1)

    magnitude = keep_top((w_bar * eligible).abs(), k, eligible)
    assert (quadratic(w) <= quadratic(w_bar * magnitude) + 1e-12).all()
    assert (quadratic(w) < quadratic(w_bar * magnitude) - 1e-6).any()
    assert not torch.equal(w[support], (w_bar * eligible)[support])  # kept weights moved


def test_a_run_keeps_exact_budgets_and_counts_its_fine_tune() -> None:
    data = load_dataset("cubist-spiral")
    population = Population.initialize((2, 8, 8, 8, 1), [0, 1], [0.1] * 2, ["cosine"] * 2)
    session = TrainingSession(population, data, SGDConfig(epochs=2), engine="torch")
    Chita(ChitaParams(calibration_points=64, finetune_epochs=1)).run(
        session, torch.tensor([30, 60])
    )
    assert population.weight_nnz().tolist() == [30, 60] and session.epochs_trained == 3
    assert Chita(ChitaParams(finetune_epochs=2)).training_epochs(5) == 7
